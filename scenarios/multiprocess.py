"""DIST-3: one pipeline run by several JAX processes, each reading its own shard of the records.

The cell runs ``processes`` JAX processes joined by ``jax.distributed`` (on one host over
loopback with forced CPU devices, or one per node from a launcher); every step's batch is one
global ``jax.Array`` over all the processes' devices, each process holding its own rows. The
harness starts and supervises the processes; this module says what is checked there. Its
checks are collective: every process calls them at the same point, or the others wait.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from scenarios.base import Variant
from scenarios.distributed import _force_devices, _Sharded


class MultiProcessMismatch(Exception):
    """The processes' batches break DIST-3's contract (the harness reports it non-conformant)."""


def processes(variant: Variant) -> int:
    """How many JAX processes a variant runs across (1 for every single-process scenario)."""
    return int(dict(variant.params).get("processes", 1))


def local_rows(array: Any) -> np.ndarray:
    """This process's rows of a global array, in global order, each row once (a replica of a
    row on another of its devices is skipped)."""
    parts: dict[int, np.ndarray] = {}
    for shard in array.addressable_shards:
        parts.setdefault(shard.index[0].start or 0, np.asarray(shard.data))
    return np.concatenate([parts[start] for start in sorted(parts)])


def gather(tree: Any) -> Any:
    """Host NumPy copies of global arrays, whole, on every process (a collective)."""
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def _cpu_devices(count: int | None) -> dict[str, str]:
    return {} if count is None else {**_force_devices(count), "JAX_PLATFORMS": "cpu"}


def _global_check(variant: Variant, batch: Mapping[str, Any]) -> None:
    """Raises unless every field is a global array over all the processes' devices, split
    along the batch axis only."""
    import jax

    for name, array in batch.items():
        sharding = getattr(array, "sharding", None)
        if sharding is None or not hasattr(array, "addressable_shards"):
            raise MultiProcessMismatch(f"field {name!r} is a {type(array).__name__}, not a global jax.Array")
        if len(sharding.device_set) != jax.device_count() or array.shape[0] != variant.batch_size:
            raise MultiProcessMismatch(
                f"field {name!r}: a {tuple(array.shape)} array on {len(sharding.device_set)} devices; expected "
                f"the global batch of {variant.batch_size} rows over all {jax.device_count()} devices of "
                f"{jax.process_count()} processes")


class MultiProcess(_Sharded):
    """DIST-3: DIST-1's work (float32 rows ×2 −1) by ``processes`` JAX processes.

    ``devices_per_process`` forced CPU devices each (``None``: the devices the host gives each
    process, e.g. one node's GPUs). A step's batch of ``batch_size`` rows is global: each
    process reads ``batch_size / processes`` of them, its shard of the epoch. Outcomes: process
    and device counts, that an epoch's shards are disjoint and cover it, that the global batch
    matches the NumPy reference on its gathered ids, and (added by the harness, which measures
    it in the same cell) the throughput of one process doing the whole global batch alone.
    """

    id = "DIST-3"
    name = "multi-process data parallel"
    capabilities = frozenset({"exact_reference", "device_sharding", "multi_process", "outcomes"})
    epoch_sampling = False  # a process's epoch is its shard: the outcomes check shards cover the epoch
    variants = {
        "small": Variant("small", 16384, 256, (("width", 256), ("processes", 2), ("devices_per_process", 2))),
        "medium": Variant("medium", 131072, 1024, (("width", 1024), ("processes", 2), ("devices_per_process", 2))),
        # Across nodes: one process per host, on that host's own devices (sky/multihost.yaml).
        "multihost": Variant("multihost", 131072, 1024, (("width", 1024), ("processes", 2),
                                                           ("devices_per_process", None))),
    }

    def child_env(self, variant):
        """Forced CPU devices per process (the variant's devices are CPU ones, whatever the host has)."""
        return _cpu_devices(dict(variant.params)["devices_per_process"])

    def reference_env(self, variant) -> dict[str, str]:
        """The environment of the one-process reference run: every process's devices in one."""
        count = dict(variant.params)["devices_per_process"]
        return _cpu_devices(None if count is None else count * processes(variant))

    def global_problem(self, variant: Variant, batch: Mapping[str, Any], inputs) -> str | None:
        """The global batch gathered on every process and checked like any scenario's batch
        (fields, shapes, dtypes, rows against the reference); None when it passes. Collective."""
        try:
            _global_check(variant, batch)
        except MultiProcessMismatch as e:
            return str(e)
        return self.check_batch(variant, gather(dict(batch)), inputs)

    def outcomes(self, adapter, job):
        """One epoch of a fresh iterator in every process: its ids gathered (disjoint shards
        covering the epoch?) and its last batch checked whole. Raises MultiProcessMismatch."""
        import jax

        variant = job.variant
        steps = variant.num_records // variant.batch_size
        iterator = adapter.open(job)
        try:
            ids = []
            for _ in range(steps):
                batch = next(iterator)
                ids.append(local_rows(batch["index"]))
            problem = self.global_problem(variant, batch, job.arrays())
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()
        if problem:
            raise MultiProcessMismatch(f"the epoch's last global batch: {problem}")
        shards = gather(np.concatenate(ids).astype(np.int64)).reshape(jax.process_count(), -1)
        _check_shards(shards, steps * variant.batch_size, variant.num_records)
        shard = batch["x"].addressable_shards[0].data.shape
        return {
            "processes": jax.process_count(), "devices": jax.device_count(),
            "devices_per_process": jax.local_device_count(), "platform": jax.devices()[0].platform,
            "records_per_process_per_epoch": int(shards.shape[1]), "shards_disjoint": True,
            "shards_cover_epoch": True, "global_batch_matches_reference": True,
            "global_batch_shape": "x".join(map(str, batch["x"].shape)),
            "per_device_shard_shape": "x".join(map(str, shard)),
        }


def _check_shards(shards: np.ndarray, epoch_records: int, num_records: int) -> None:
    """``shards[p]``: the ids process ``p`` read in one epoch. Raises unless each reads
    distinct records, no two share one, and together they read ``epoch_records`` records."""
    for p, ids in enumerate(shards):
        if len(np.unique(ids)) != len(ids):
            raise MultiProcessMismatch(f"process {p} read a record twice in one epoch")
    every = shards.reshape(-1)
    shared = len(every) - len(np.unique(every))
    if shared:
        raise MultiProcessMismatch(f"the processes' shards overlap: {shared} records were read by two processes")
    if len(every) != epoch_records or every.min() < 0 or every.max() >= num_records:
        raise MultiProcessMismatch(
            f"the shards hold {len(every)} records of ids in [{every.min()}, {every.max()}]; "
            f"an epoch is {epoch_records} distinct records of [0, {num_records})")
