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


class HeavyTransforms(Scenario):
    """XFMR-1: uint8 images → random rotation (±30°, bilinear, zeros outside) → RandomCrop →
    normalize, at 32², 128² and 512²: per-pixel gather work that JIT + vmap must carry.

    Pixels are stored in [64, 255], so any output pixel darker than 64 read outside the image:
    the share of rows showing one measures that rotations happen (≥ 10° leaves a dark corner
    in every crop, and two thirds of angles are that large).
    """

    id = "XFMR-1"
    name = "JIT+vmap heavy transforms"
    category = "overhead"
    capabilities = frozenset({"stochastic_per_element"})
    variants = {
        "small": Variant("small", 4096, 128, (("image_size", 32), ("crop_size", 28))),
        "medium": Variant("medium", 8192, 64, (("image_size", 128), ("crop_size", 112))),
        "large": Variant("large", 2048, 16, (("image_size", 512), ("crop_size", 448))),
    }
    degrees, darkest_stored = 30.0, 64

    def input_fields(self, variant):
        side = variant.param("image_size")
        return (FieldSpec("image", (side, side, 3), "uint8"),)

    def output_fields(self, variant):
        crop = variant.param("crop_size")
        return (FieldSpec("image", (crop, crop, 3), "float32"),)

    def transforms(self, variant):
        crop = variant.param("crop_size")
        return (
            Transform.of("random_rotate", field="image", degrees=self.degrees),
            Transform.of("random_crop", field="image", size=(crop, crop)),
            Transform.of("normalize", field="image", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        )

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 61])
        side = variant.param("image_size")
        images = rng.integers(self.darkest_stored, 256, size=(variant.num_records, side, side, 3), dtype=np.uint8)
        return {"image": images}

    def check_values(self, variant, batch):
        image = np.asarray(batch["image"])
        mean, std = np.asarray(IMAGENET_MEAN), np.asarray(IMAGENET_STD)
        if not np.isfinite(image).all():
            return "field 'image' has non-finite values"
        if (image < -mean / std - 1e-3).any() or (image > (1 - mean) / std + 1e-3).any():
            return "field 'image' leaves the normalized range per channel"
        dark = ((self.darkest_stored - 0.5) / 255 - mean) / std
        rotated = (image < dark).all(axis=-1).any(axis=(1, 2)).mean()
        if rotated < 0.3:
            return f"field 'image': only {rotated:.2f} of rows read outside the image (not rotated?)"
        return None
