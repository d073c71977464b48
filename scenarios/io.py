"""Input/output scenarios (IO-*)."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Variant
from scenarios.checks import first_mismatch, stored_rows

BACKENDS = ("npy", "memory", "array_record", "parquet")
_SIZES = {"small": (8192, 256, 3072), "medium": (131072, 512, 3072), "large": (262144, 512, 12288)}


def _variants() -> dict[str, Variant]:
    """``<size>`` reads memory-mapped .npy (every scenario's default); ``<size>-<backend>`` the others."""
    out = {}
    for size, (records, batch, width) in _SIZES.items():
        for backend in BACKENDS:
            name = size if backend == "npy" else f"{size}-{backend}"
            out[name] = Variant(name, records, batch, (("backend", backend), ("record_bytes", width)))
    return out


class SourceBackends(Scenario):
    """IO-1: the same records (uint8 payload + label) read from each storage backend, untransformed.

    ``backend`` is ``npy`` (memory-mapped .npy), ``memory`` (loaded into RAM first),
    ``array_record`` (ArrayRecord files) or ``parquet``; a loader converts the stored .npy
    once (untimed) into its backend's format. Every row is compared byte for byte.
    """

    id = "IO-1"
    name = "source backends"
    category = "io"
    capabilities = frozenset({"exact_reference", "source_backends"})
    variants = _variants()

    def input_fields(self, variant):
        return (
            FieldSpec("payload", (variant.param("record_bytes"),), "uint8"),
            FieldSpec("label", (), "int32"),
            FieldSpec("index", (), "int32"),
        )

    def output_fields(self, variant):
        return self.input_fields(variant)

    def transforms(self, variant):
        return ()

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 21])
        n = variant.num_records
        payload = rng.integers(0, 256, size=(n, variant.param("record_bytes")), dtype=np.uint8)
        return {
            "payload": payload,
            "label": rng.integers(0, 1000, size=n, dtype=np.int32),
            "index": np.arange(n, dtype=np.int32),
        }

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        for name in ("payload", "label"):
            problem = first_mismatch(name, batch[name], np.asarray(inputs[name][rows]))
            if problem:
                return problem
        return None
