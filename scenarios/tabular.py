"""Tabular scenarios (TAB-*)."""

from __future__ import annotations

import functools

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference import apply_transforms
from scenarios.reference.tabular import standardize

# Standardized values beyond this many standard deviations are treated as a wrong transform:
# a normal sample of 10^7 values stays within ~5.6.
_MAX_ABS_Z = 8.0


@functools.cache
def column_stats(num_features: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-column mean and std the generator draws from and ``standardize`` divides by.

    Fixed by the feature count alone (not the data seed), so they are exact parameters of the
    scenario, stored in its ``Transform``; float32-representable so every loader agrees.
    """
    rng = np.random.default_rng([num_features, 3])
    mean = rng.uniform(-50.0, 50.0, num_features).astype(np.float32)
    std = np.exp(rng.uniform(np.log(0.05), np.log(20.0), num_features)).astype(np.float32)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


# A standardized row matches its reference within this (float32 rounding of (x - mean) / std by
# any op order is ~1e-6 at |z| ≤ 8); the batch's own statistics move a row by ~1/sqrt(B) ≈ 0.04.
_ROW_ATOL = 1e-4
_CANDIDATES = 8  # stored rows nearest by projection that are compared whole
_CHUNK = 65536  # stored rows projected at a time (a float64 copy of the whole store is not made)


class _StandardizedRows:
    """Finds a batch's rows among the stored rows by content (TAB-1's records carry no
    ``index``): stored rows are sorted by a fixed random projection of their standardized
    values (computed from the stored values, standardization being affine), and the nearest
    few by projection are standardized and compared whole."""

    def __init__(self, features: np.ndarray, mean, std):
        self.features, self.mean, self.std = features, mean, std
        self.weights = np.random.default_rng(0).standard_normal(features.shape[1])
        scaled = self.weights / np.asarray(std, np.float64)
        offset = np.asarray(mean, np.float64) @ scaled
        projection = np.concatenate([np.asarray(features[i:i + _CHUNK], np.float64) @ scaled - offset
                                     for i in range(0, len(features), _CHUNK)])
        self.order = np.argsort(projection, kind="stable")
        self.sorted = projection[self.order]

    def find(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, error)``: the nearest stored row to each of ``rows`` and its max |difference|."""
        at = np.searchsorted(self.sorted, np.asarray(rows, np.float64) @ self.weights)
        window = np.clip(at[:, None] + np.arange(-_CANDIDATES // 2, _CANDIDATES // 2), 0, len(self.order) - 1)
        candidates = self.order[window]
        reference = standardize(np.asarray(self.features)[candidates.reshape(-1)], self.mean, self.std)
        error = np.abs(reference.reshape(*candidates.shape, -1) - rows[:, None, :]).max(axis=2)
        best = error.argmin(axis=1)
        pick = np.arange(len(rows))
        return candidates[pick, best], error[pick, best]


class DenseFeatures(Scenario):
    """TAB-1: float32 feature rows [D] + int32 label → ``standardize`` (fixed mean/std) → float32.

    Rows are checked by content: each output row must be some stored row standardized with the
    spec's constants (within ``_ROW_ATOL``), with that row's label, and none twice in a batch.
    """

    id = "TAB-1"
    name = "dense features"
    category = "tabular"
    rows_by_content = True
    variants = {
        "small": Variant("small", 65536, 512, (("features", 64), ("classes", 2))),
        "medium": Variant("medium", 1048576, 4096, (("features", 128), ("classes", 2))),
        "large": Variant("large", 2097152, 8192, (("features", 256), ("classes", 2))),
    }

    def input_fields(self, variant):
        return (FieldSpec("features", (variant.param("features"),), "float32"), FieldSpec("label", (), "int32"))

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        mean, std = column_stats(variant.param("features"))
        return (Transform.of("standardize", field="features", mean=mean, std=std),)

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 3])
        mean, std = (np.asarray(v, np.float32) for v in column_stats(variant.param("features")))
        n = variant.num_records
        features = rng.standard_normal((n, len(mean)), dtype=np.float32) * std + mean
        labels = rng.integers(0, variant.param("classes"), size=n).astype(np.int32)
        return {"features": features, "label": labels}

    def check_values(self, variant, batch):
        features, label = np.asarray(batch["features"]), np.asarray(batch["label"])
        if not np.isfinite(features).all():
            return "field 'features' has non-finite values"
        if np.abs(features).max() > _MAX_ABS_Z:
            return f"field 'features' has values beyond ±{_MAX_ABS_Z} (not standardized?)"
        # Over a batch of B rows a standardized column's mean has standard error 1/sqrt(B) and
        # its std about 1/sqrt(2B); six standard errors never trip on correct output.
        tolerance = 6.0 / np.sqrt(len(features))
        worst_mean = np.abs(features.mean(axis=0)).max()
        if worst_mean > tolerance:
            return f"field 'features': a column mean is {worst_mean:.3f}, expected 0 ± {tolerance:.3f}"
        worst_std = np.abs(features.std(axis=0) - 1).max()
        if worst_std > tolerance:
            return f"field 'features': a column std is off by {worst_std:.3f}, expected 1 ± {tolerance:.3f}"
        classes = variant.param("classes")
        if label.min() < 0 or label.max() >= classes:
            return f"field 'label' outside [0, {classes})"
        return None

    def _rows(self, variant, inputs) -> _StandardizedRows:
        return _StandardizedRows(inputs["features"], *column_stats(variant.param("features")))

    def check_rows(self, variant, batch, inputs):
        features = np.asarray(batch["features"], np.float32)
        ids, error = self._rows(variant, inputs).find(features)
        bad = np.flatnonzero(error > _ROW_ATOL)
        if len(bad):
            return (f"row {int(bad[0])} of field 'features' is no stored row standardized with the spec's "
                    f"mean and std (nearest differs by {float(error[bad[0]]):.4f} > {_ROW_ATOL}; {len(bad)} rows)")
        if len(np.unique(ids)) != len(ids):
            return "a stored row repeats within one batch"
        return first_mismatch("label", batch["label"], np.asarray(inputs["label"])[ids])

    def record_ids(self, variant, inputs):
        """The stored row each output row standardizes, found by content."""
        rows = self._rows(variant, inputs)
        return lambda batch: rows.find(np.asarray(batch["features"], np.float32))[0]


class Recommendation(Scenario):
    """TAB-2: 13 dense counts + 26 raw categorical ids → ``log1p`` dense, hash ids to a vocabulary.

    Criteo-shaped: dense counts are heavy-tailed non-negative integers (stored as float32),
    categorical ids are raw 31-bit values. Hashing is bit-exact; ``log1p`` exact to float32
    rounding (libm and XLA may differ in the last ulp).
    """

    id = "TAB-2"
    name = "recommendation features"
    category = "tabular"
    capabilities = frozenset({"exact_reference"})
    variants = {
        "small": Variant("small", 65536, 1024, (("vocab_size", 65536),)),
        "medium": Variant("medium", 1048576, 4096, (("vocab_size", 1048576),)),
        "large": Variant("large", 4194304, 8192, (("vocab_size", 4194304),)),
    }
    dense_count, sparse_count, salt = 13, 26, 0x9E3779B9

    def input_fields(self, variant):
        return (
            FieldSpec("dense", (self.dense_count,), "float32"),
            FieldSpec("sparse", (self.sparse_count,), "int32"),
            FieldSpec("label", (), "int32"),
            FieldSpec("index", (), "int32"),
        )

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        return (
            Transform.of("log1p", field="dense"),
            Transform.of("hash_to_vocabulary", field="sparse", vocab_size=variant.param("vocab_size"), salt=self.salt),
        )

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 4])
        n = variant.num_records
        dense = np.floor(rng.pareto(1.2, size=(n, self.dense_count)) * 3).astype(np.float32)
        sparse = rng.integers(0, 2**31 - 1, size=(n, self.sparse_count), dtype=np.int32)
        label = (rng.random(n) < 0.25).astype(np.int32)  # click-through-like imbalance
        return {"dense": dense, "sparse": sparse, "label": label, "index": np.arange(n, dtype=np.int32)}

    def check_values(self, variant, batch):
        dense, sparse = np.asarray(batch["dense"]), np.asarray(batch["sparse"])
        if not np.isfinite(dense).all() or dense.min() < 0:
            return "field 'dense' must be finite and >= 0 after log1p of counts"
        vocab = variant.param("vocab_size")
        if sparse.min() < 0 or sparse.max() >= vocab:
            return f"field 'sparse' has ids outside [0, {vocab}) (not hashed?)"
        return None

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        want = apply_transforms({k: np.asarray(inputs[k][rows]) for k in ("dense", "sparse")},
                                self.transforms(variant), None)
        return (
            first_mismatch("dense", batch["dense"], want["dense"], rtol=1e-6, atol=1e-6)
            or first_mismatch("sparse", batch["sparse"], want["sparse"])
            or first_mismatch("label", batch["label"], np.asarray(inputs["label"][rows]))
        )
