"""Engine-overhead scenarios (NNX-*): the same math through different engine paths."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference import apply_transforms
from scenarios.reference.image import IMAGENET_MEAN, IMAGENET_STD

IMPLEMENTATIONS = ("module", "function")
_SIZES = {"small": (8192, 256, 32), "medium": (32768, 256, 64), "large": (65536, 256, 128)}


def _variants() -> dict[str, Variant]:
    out = {}
    for size, (records, batch, side) in _SIZES.items():
        for impl in IMPLEMENTATIONS:
            name = size if impl == "module" else f"{size}-function"
            out[name] = Variant(name, records, batch, (("image_size", side), ("implementation", impl)))
    return out


class ModuleOverhead(Scenario):
    """NNX-1: uint8 images → ``normalize``, as an NNX operator module (``<size>``) or as a plain
    function stage (``<size>-function``): the difference is the module's overhead.

    ``implementation`` tells a loader with both paths which to take; one without runs the same
    work either way. Row-exact against the reference within float32 rounding.
    """

    id = "NNX-1"
    name = "module overhead"
    category = "overhead"
    capabilities = frozenset({"exact_reference"})
    variants = _variants()

    def input_fields(self, variant):
        side = variant.param("image_size")
        return (FieldSpec("image", (side, side, 3), "uint8"), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        side = variant.param("image_size")
        return (FieldSpec("image", (side, side, 3), "float32"), FieldSpec("index", (), "int32"))

    def transforms(self, variant):
        return (Transform.of("normalize", field="image", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),)

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 31])
        n, side = variant.num_records, variant.param("image_size")
        images = rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)
        return {"image": images, "index": np.arange(n, dtype=np.int32)}

    def check_values(self, variant, batch):
        image = np.asarray(batch["image"])
        mean, std = np.asarray(IMAGENET_MEAN), np.asarray(IMAGENET_STD)
        if not np.isfinite(image).all():
            return "field 'image' has non-finite values"
        if (image < (0 - mean) / std - 1e-3).any() or (image > (1 - mean) / std + 1e-3).any():
            return "field 'image' leaves the normalized range per channel"
        return None

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        want = apply_transforms({"image": np.asarray(inputs["image"][rows])}, self.transforms(variant), None)
        return first_mismatch("image", batch["image"], want["image"], rtol=1e-5, atol=1e-5)
