"""Pipeline-composition scenarios (PC-*)."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference import apply_transforms

# One cycle of cheap element-wise ops; a chain of depth d is its first d ops, cycle repeated.
# The factors keep values bounded (|x| <= 8 after every clip) so no op saturates to a constant.
_CYCLE = (
    ("multiply", {"factor": 1.5}),
    ("add", {"value": -0.25}),
    ("clip", {"low": -8.0, "high": 8.0}),
    ("multiply", {"factor": 0.75}),
)
# Float32 arithmetic may fuse a multiply and an add (one rounding instead of two): the chain
# is compared to its reference within a few ulps, far below any wrong constant's error.
_RTOL, _ATOL = 1e-5, 1e-5


def _variant(name: str, depth: int, records: int, batch: int, width: int) -> Variant:
    return Variant(name, records, batch, (("depth", depth), ("width", width)))


class ChainDepth(Scenario):
    """PC-1: float32 rows [W] through a chain of 1…50 cheap element-wise stages.

    The work per stage is tiny, so throughput versus depth measures each stage's overhead.
    ``small``, ``medium``, ``large`` have depth 10, 25, 50; ``depth1`` and ``depth50`` are the
    small data at the extremes of the range.
    """

    id = "PC-1"
    name = "chain depth"
    category = "pipeline"
    capabilities = frozenset({"exact_reference"})
    variants = {
        "small": _variant("small", 10, 16384, 256, 256),
        "depth1": _variant("depth1", 1, 16384, 256, 256),
        "depth50": _variant("depth50", 50, 16384, 256, 256),
        "medium": _variant("medium", 25, 131072, 512, 1024),
        "large": _variant("large", 50, 524288, 1024, 1024),
    }

    def input_fields(self, variant):
        return (FieldSpec("x", (variant.param("width"),), "float32"), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        ops = (_CYCLE[i % len(_CYCLE)] for i in range(variant.param("depth")))
        return tuple(Transform.of(name, field="x", **params) for name, params in ops)

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 11])
        n = variant.num_records
        x = rng.standard_normal((n, variant.param("width")), dtype=np.float32)
        return {"x": x, "index": np.arange(n, dtype=np.int32)}

    def check_values(self, variant, batch):
        x = np.asarray(batch["x"])
        if not np.isfinite(x).all():
            return "field 'x' has non-finite values"
        if np.abs(x).max() > 8.0 * 1.5:  # the largest value any prefix of the cycle can give
            return "field 'x' leaves [-12, 12] (a chain op is missing or wrong)"
        return None

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        want = apply_transforms({"x": np.asarray(inputs["x"][rows])}, self.transforms(variant), None)["x"]
        return first_mismatch("x", batch["x"], want, atol=_ATOL, rtol=_RTOL)
