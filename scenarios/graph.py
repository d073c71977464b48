"""Pipeline-graph scenarios: two views through parallel paths (PC-2), rebatching (PC-3) and
per-record probabilistic operators (PC-4)."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, horizontal_flip_rate, stored_rows
from scenarios.reference import apply_transforms
from scenarios.reference.image import IMAGENET_MEAN, IMAGENET_STD
from scenarios.vision import ImageClassification, indexed_ramp_images

_SIZES = {"small": (4096, 128, 32, 32), "medium": (20000, 128, 128, 112), "large": (50000, 256, 256, 224)}


def _binomial_problem(field: str, applied: np.ndarray, p: float, what: str) -> str | None:
    """Whether the share of ``applied`` rows is within six standard errors of ``p``."""
    rate, tolerance = applied.mean(), 6 * np.sqrt(p * (1 - p) / len(applied))
    if abs(rate - p) > tolerance:
        return f"field {field!r}: {what} in {rate:.2f} of {len(applied)} rows, expected {p} ± {tolerance:.2f}"
    return None


class TwoViews(Scenario):
    """PC-2: SimCLR-style views: two independently keyed RandomResizedCrop → HFlip → Normalize
    paths over each image, merged into one batch with a views axis (``image``: [2, H, W, 3]).

    Conformance: every view is a crop of its own record (its de-normalized values stay within
    the stored image's range per channel, as bilinear resampling cannot leave it), each view's
    flip rate is near 0.5, and the two views of a row differ.
    """

    id = "PC-2"
    name = "branching DAG (two views)"
    category = "pipeline"
    capabilities = frozenset({"stochastic_per_element", "parallel_views"})
    variants = {n: Variant(n, r, b, (("image_size", s), ("crop_size", c), ("classes", 10), ("views", 2)))
                for n, (r, b, s, c) in _SIZES.items()}
    _images = ImageClassification()

    def input_fields(self, variant):
        return (self._images.input_fields(variant)[0], FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        crop = variant.param("crop_size")
        return (FieldSpec("image", (variant.param("views"), crop, crop, 3), "float32"), FieldSpec("index", (), "int32"))

    def transforms(self, variant):
        """The work of one view; each of the ``views`` paths runs it with its own random keys."""
        return self._images.transforms(variant)

    def generate(self, variant, seed):
        return indexed_ramp_images(np.random.default_rng([seed, 45]), variant)

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        stored = np.asarray(inputs["image"][rows]).astype(np.float32)
        views = np.asarray(batch["image"], np.float32)
        pixels = views * np.asarray(IMAGENET_STD, np.float32) * 255 + np.asarray(IMAGENET_MEAN, np.float32) * 255
        low, high = stored.min(axis=(1, 2)), stored.max(axis=(1, 2))  # [B, 3]
        for v in range(views.shape[1]):
            seen = pixels[:, v]
            outside = (seen < low[:, None, None] - 0.5) | (seen > high[:, None, None] + 0.5)
            if outside.any():
                row = int(np.argwhere(outside)[0][0])
                return (f"field 'image' view {v}: row {row} (record {rows[row]}) has values outside its stored "
                        "image's range: not a crop of that record, or wrongly normalized")
            rate, judged = horizontal_flip_rate(stored, views[:, v])
            tolerance = 6 * np.sqrt(0.25 / max(judged, 1))
            if judged >= 20 and abs(rate - 0.5) > tolerance:
                return f"field 'image' view {v}: {rate:.2f} of {judged} rows mirrored, expected 0.5 ± {tolerance:.2f}"
        same = np.all(np.isclose(views[:, 0], views[:, 1], atol=1e-4), axis=(1, 2, 3))
        if same.mean() > 0.05:
            return f"field 'image': the two views are equal in {same.sum()} of {len(same)} rows (keyed alike?)"
        return None


class Rebatching(Scenario):
    """PC-3: the records in stored order, read in batches of ``source_batch`` (B1) and regrouped
    into batches of ``batch_size`` (B2, not a divisor of B1) across batch boundaries, after a
    cheap affine map.

    ``ordered``: loaders read in stored order (no shuffle), so conformance sees the stream:
    every batch has B2 rows whose ids are consecutive (modulo the record count).
    """

    id = "PC-3"
    name = "rebatching"
    category = "pipeline"
    capabilities = frozenset({"exact_reference", "rebatching"})
    variants = {
        "small": Variant("small", 16384, 96, (("source_batch", 128), ("width", 256), ("ordered", True))),
        "medium": Variant("medium", 131072, 384, (("source_batch", 512), ("width", 1024), ("ordered", True))),
        "large": Variant("large", 524288, 1000, (("source_batch", 1024), ("width", 1024), ("ordered", True))),
    }

    def input_fields(self, variant):
        return (FieldSpec("x", (variant.param("width"),), "float32"), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        return (Transform.of("multiply", field="x", factor=0.5), Transform.of("add", field="x", value=1.0))

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 41])
        n = variant.num_records
        return {"x": rng.standard_normal((n, variant.param("width")), dtype=np.float32),
                "index": np.arange(n, dtype=np.int32)}

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        steps = np.diff(rows) % variant.num_records
        if (steps != 1).any():
            at = int(np.flatnonzero(steps != 1)[0])
            return (f"field 'index': records {rows[at]} then {rows[at + 1]} at rows {at}..{at + 1}; a rebatched "
                    "stream in stored order has consecutive ids")
        want = apply_transforms({"x": np.asarray(inputs["x"][rows])}, self.transforms(variant), None)["x"]
        return first_mismatch("x", batch["x"], want, atol=1e-6)


_FLIP = ("multiply", (("factor", -1.0),))
_SHIFT = ("add", (("value", 10.0),))


class ProbabilisticOps(Scenario):
    """PC-4: float32 rows in [1, 2) → negate with probability ``p_negate`` → add 10 with
    probability ``p_shift``, each decided per record.

    Every output row shows which ops ran (sign, magnitude), so conformance recovers the stored
    row exactly and checks each op's applied rate over the batch (binomial, six standard errors).
    """

    id = "PC-4"
    name = "probabilistic ops"
    category = "pipeline"
    capabilities = frozenset({"stochastic_per_element", "exact_reference"})
    variants = {
        "small": Variant("small", 16384, 256, (("width", 256), ("p_negate", 0.5), ("p_shift", 0.25))),
        "medium": Variant("medium", 131072, 512, (("width", 1024), ("p_negate", 0.5), ("p_shift", 0.25))),
        "large": Variant("large", 524288, 1024, (("width", 1024), ("p_negate", 0.5), ("p_shift", 0.1))),
    }

    def input_fields(self, variant):
        return (FieldSpec("x", (variant.param("width"),), "float32"), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        return tuple(
            Transform.of("random_apply", field="x", p=variant.param(p), op=op, op_params=params)
            for p, (op, params) in (("p_negate", _FLIP), ("p_shift", _SHIFT))
        )

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 43])
        n = variant.num_records
        return {"x": (1 + rng.random((n, variant.param("width")), dtype=np.float32)).astype(np.float32),
                "index": np.arange(n, dtype=np.int32)}

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        x = np.asarray(batch["x"], np.float32)
        shifted = x[:, 0] > 5
        base = np.where(shifted[:, None], x - np.float32(10), x)
        negated = base[:, 0] < 0
        problem = first_mismatch("x", np.where(negated[:, None], -base, base), np.asarray(inputs["x"][rows]), atol=1e-5)
        if problem:
            return f"{problem} (after undoing the ops each row shows)"
        return (_binomial_problem("x", negated, variant.param("p_negate"), "negated")
                or _binomial_problem("x", shifted, variant.param("p_shift"), "shifted by 10"))
