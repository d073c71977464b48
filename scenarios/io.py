"""Input/output scenarios (IO-*)."""

from __future__ import annotations

import time

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


class MixedSources(Scenario):
    """IO-3: two token datasets (``a``: ids < 1000, ``b``: ids ≥ 1000, half as many records)
    mixed with weights 0.7/0.3 into one stream of ``tokens``, ``source`` (0 = a, 1 = b), ``index``.

    Stored fields are ``<dataset>_<field>``; each record carries its dataset id. Every row is
    checked against its dataset; the mix per batch must match the weights (binomial, 6 σ).
    """

    id = "IO-3"
    name = "mixed sources"
    category = "io"
    capabilities = frozenset({"exact_reference", "mixing"})
    epoch_sampling = False  # records are drawn by dataset weight, with no epoch to be a permutation of
    variants = {
        "small": Variant("small", 16384, 256, (("seq_len", 128), ("weights", (0.7, 0.3)))),
        "medium": Variant("medium", 131072, 512, (("seq_len", 512), ("weights", (0.7, 0.3)))),
        "large": Variant("large", 524288, 512, (("seq_len", 2048), ("weights", (0.7, 0.3)))),
    }
    datasets = ("a", "b")

    def input_fields(self, variant):
        length = variant.param("seq_len")
        return tuple(
            spec
            for d in self.datasets
            for spec in (FieldSpec(f"{d}_tokens", (length,), "int32"), FieldSpec(f"{d}_index", (), "int32"),
                         FieldSpec(f"{d}_source", (), "int32"))
        )

    def output_fields(self, variant):
        return (
            FieldSpec("tokens", (variant.param("seq_len"),), "int32"),
            FieldSpec("source", (), "int32"),
            FieldSpec("index", (), "int32"),
        )

    def transforms(self, variant):
        return ()

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 23])
        out = {}
        for i, d in enumerate(self.datasets):
            n = variant.num_records // (i + 1)
            out[f"{d}_tokens"] = rng.integers(1000 * i, 1000 * (i + 1), size=(n, variant.param("seq_len")), dtype=np.int32)
            out[f"{d}_index"] = np.arange(n, dtype=np.int32)
            out[f"{d}_source"] = np.full(n, i, np.int32)
        return out

    def check_values(self, variant, batch):
        source = np.asarray(batch["source"])
        if not np.isin(source, (0, 1)).all():
            return "field 'source' is not 0 (a) or 1 (b)"
        p = variant.param("weights")[1] / sum(variant.param("weights"))
        rate, tolerance = source.mean(), 6 * np.sqrt(p * (1 - p) / len(source))
        if abs(rate - p) > tolerance:
            return f"field 'source': {rate:.2f} of the batch from b, expected {p:.2f} ± {tolerance:.2f}"
        return None

    def check_rows(self, variant, batch, inputs):
        tokens, source, index = (np.asarray(batch[k]) for k in ("tokens", "source", "index"))
        for i, d in enumerate(self.datasets):
            mine = source == i
            ids = index[mine].astype(np.int64)
            count = len(inputs[f"{d}_tokens"])
            if ids.size and (ids.min() < 0 or ids.max() >= count):
                return f"field 'index' has ids outside dataset {d}'s [0, {count})"
            problem = first_mismatch("tokens", tokens[mine], np.asarray(inputs[f"{d}_tokens"][ids]))
            if problem:
                return f"dataset {d}: {problem}"
        return None


class StreamingVsEager(SourceBackends):
    """IO-2: IO-1's records read incrementally from memory-mapped .npy (``<size>-streaming``:
    pages load as batches touch them) or loaded whole into RAM first (``<size>-eager``: the
    loader's ``memory`` backend), untransformed and byte-exact.

    Time to first batch, peak RSS and throughput come with every record; the outcome adds
    ``eager_load_s``, the time this cell takes to ``np.load`` every field fully into RAM (what
    an eager loader pays before its first batch), and ``dataset_bytes``.
    """

    id = "IO-2"
    name = "streaming vs eager"
    capabilities = frozenset({"exact_reference", "outcomes", "source_backends"})
    variants = {
        f"{size}-{mode}": Variant(f"{size}-{mode}", records, batch, (
            ("backend", "npy" if mode == "streaming" else "memory"), ("mode", mode), ("record_bytes", width)))
        for size, (records, batch, width) in _SIZES.items()
        for mode in ("streaming", "eager")
    }

    def outcomes(self, adapter, job):
        start = time.perf_counter()
        loaded = {name: np.load(path) for name, path in job.data.items()}
        eager_load_s = time.perf_counter() - start
        return {"mode": job.variant.param("mode"), "eager_load_s": eager_load_s,
                "dataset_bytes": int(sum(a.nbytes for a in loaded.values()))}
