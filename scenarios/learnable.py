"""A learnable transform (PC-5): the pipeline's own parameters trained by a gradient step per batch."""

from __future__ import annotations

import itertools
import time

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import stored_rows

_OUTCOME_BATCHES = 60
_LAST = 5
_NOISE = 0.1  # batch-to-batch variation of an untrained loss is a few percent


def standardize_loss(y, xp=np):
    """How far each feature of a batch is from zero mean and unit deviation (NumPy or jax.numpy)."""
    return xp.mean(xp.mean(y, axis=0) ** 2 + (xp.std(y, axis=0) - 1) ** 2)


class LearnableTransform(Scenario):
    """PC-5: float32 feature rows (each feature with its own mean and scale) → a learnable
    per-feature normalization ``(x - m) · exp(s)``, starting at the identity; after each batch
    the loader takes one Adam step on ``standardize_loss`` of the batch it produced.

    Conformance: each batch is a per-feature affine map of its stored rows (least squares fits
    every feature exactly, positive scale). Outcomes: the loss measured on the first batch and
    on the last 5 of 60 consecutive ones; ``loss_decreased`` when it fell by more than 10 %
    (more than an untrained loss varies between batches).
    """

    id = "PC-5"
    name = "learnable transform"
    category = "pipeline"
    capabilities = frozenset({"differentiable_pipeline", "outcomes"})
    variants = {
        "small": Variant("small", 16384, 256, (("width", 64), ("learning_rate", 0.05))),
        "medium": Variant("medium", 131072, 512, (("width", 256), ("learning_rate", 0.05))),
        "large": Variant("large", 524288, 1024, (("width", 1024), ("learning_rate", 0.05))),
    }

    def input_fields(self, variant):
        return (FieldSpec("x", (variant.param("width"),), "float32"), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        return (Transform.of("learnable_standardize", field="x", features=variant.param("width"), init="identity", loss="standardize_loss",
                             optimizer="adam", learning_rate=variant.param("learning_rate"), steps="one per batch"),)

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 61])
        n, width = variant.num_records, variant.param("width")
        mean, scale = rng.uniform(-2, 2, width), rng.uniform(0.5, 2, width)
        x = rng.standard_normal((n, width)) * scale + mean
        return {"x": x.astype(np.float32), "index": np.arange(n, dtype=np.int32)}

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        x, y = np.asarray(inputs["x"][rows], np.float64), np.asarray(batch["x"], np.float64)
        xc, yc = x - x.mean(0), y - y.mean(0)
        slope = (xc * yc).sum(0) / (xc * xc).sum(0)
        residual = np.abs(yc - slope * xc).max()
        if not np.isfinite(y).all() or residual > 1e-3 * max(1.0, np.abs(y).max()) or (slope <= 0).any():
            return (f"field 'x' is not a per-feature affine map with positive scale of the stored rows "
                    f"(residual up to {residual:.3g})")
        return None

    def outcomes(self, adapter, job):
        iterator = adapter.open(job)
        try:
            started = time.perf_counter()
            losses = [float(standardize_loss(np.asarray(b["x"], np.float64)))
                      for b in itertools.islice(iterator, _OUTCOME_BATCHES)]
            elapsed = time.perf_counter() - started
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()
        before, after = losses[0], float(np.mean(losses[-_LAST:]))
        return {
            "batches_trained": len(losses),
            "loss_before": before,
            "loss_after": after,
            "loss_decreased": after < (1 - _NOISE) * before,
            "train_elements_per_s": len(losses) * job.variant.batch_size / elapsed,
        }
