"""jax-dataloader: ``ArrayDataset`` + ``DataLoader(backend="jax")``, transforms on each batch.

The JAX backend shuffles with ``jax.random.permutation`` each epoch (seeded through its
``Generator``) and slices the arrays by index; it has no transform hook and no workers (it
ignores ``num_workers``), so the scenario's transforms run on each batch it yields, with
per-record random parameters keyed by (seed, epoch, record id) — the record ids travel through
the loader as one more array. IO-1: the arrays are memory-mapped or loaded into RAM.

Delivery: despite its name, the JAX backend yields NumPy batches; they go through the shared
overlapped ``jax.device_put`` (``adapters._delivery``).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np

from adapters import _formats
from adapters._delivery import deliver
from adapters._element_ops import OPS, RecordTransform
from adapters._peer_state import SHARDED_CAPABILITIES
from adapters.base import Job, LibraryAdapter

_ARRAYS_ONLY = "jax-dataloader's ArrayDataset takes arrays only; it has no {} reader"


def _jdl():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # jax_dataloader imports TensorFlow eagerly
    import jax_dataloader

    return jax_dataloader


class JaxDataloaderAdapter(LibraryAdapter):
    name = library = "jax_dataloader"
    distribution = "jax-dataloader"
    ops = OPS
    capabilities = SHARDED_CAPABILITIES
    capability_reasons = {
        "checkpoint": "jax-dataloader's DataLoader keeps no iterator state (no state_dict; its shuffle key "
        "advances inside the loader), so a restarted loader cannot resume mid-epoch"
    }
    backend_reasons = {"array_record": _ARRAYS_ONLY.format("ArrayRecord"), "parquet": _ARRAYS_ONLY.format("Parquet")}

    def load(self) -> None:
        _jdl()

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        return deliver(self._batches(job), job)

    def _batches(self, job: Job) -> Iterator[dict[str, Any]]:
        jdl = _jdl()
        variant = job.variant
        transform = RecordTransform(job.scenario.transforms(variant), job.seed)
        arrays = _formats.arrays(job)
        fields = list(arrays)
        dataset = jdl.ArrayDataset(np.arange(variant.num_records), *arrays.values())
        loader = jdl.DataLoader(
            dataset,
            "jax",
            batch_size=variant.batch_size,
            shuffle=job.shuffle,
            drop_last=True,
            generator=jdl.Generator().manual_seed(job.seed),
        )
        epoch = 0
        while True:
            for ids, *values in loader:
                yield transform.batch(dict(zip(fields, values)), ids, epoch)
            epoch += 1
