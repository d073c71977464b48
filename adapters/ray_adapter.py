"""Ray Data: ``from_numpy`` of each epoch's shuffled ids → ``map_batches`` → ``iter_batches``.

``map_batches`` gathers a batch of records from the memory-mapped files and runs the transforms
with per-record random parameters keyed by (seed, epoch, record id), in Ray tasks on a local
cluster of ``job.cpu_budget`` CPUs; ``iter_batches`` re-batches to exactly the batch size with
prefetching. One Ray Dataset per epoch, as a Ray training loop iterates. IO-1's memory-mapped,
in-RAM and ArrayRecord records are gathered the same way; its Parquet file is read natively
(``read_parquet``, a seeded ``random_shuffle`` per epoch).

PR-1: Ray Data keeps no iterator state (a Dataset is re-executed from its plan), so the saved
state is the seeded sampler's position, and resuming builds that epoch's Dataset from the ids
not consumed yet.

Delivery: Ray Data's own ``iter_jax_batches``, which shards each batch over a 1-D mesh of every
JAX device of the process; where that is not the job's delivery point (a host with several
accelerators, of which the profile trains on one; a DIST-* mesh with its own axis names),
``iter_batches``' NumPy batches go through the shared overlapped ``jax.device_put``
(``adapters._delivery``), which assembles the mesh's global arrays.
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import threading
import time
from typing import Any, Iterator

import numpy as np

from adapters import _formats
from adapters._delivery import deliver
from adapters._element_ops import OPS, RecordTransform
from adapters._peer_state import SHARDED_CAPABILITIES, Position, load_state, positioned, save_state
from adapters._records import NpyRecords, epoch_order
from adapters.base import Job, LibraryAdapter

BLOCKS_PER_CPU = 4  # blocks per epoch per CPU: every CPU busy, task overhead amortized
QUIESCE_S = 60.0  # the longest wait for Ray Data threads before ray.shutdown()
RAY_DATA_THREADS = ("iter_threaded", "StreamingExecutor-")  # fetch blocks from the core worker


class _GatherTransform:
    """``{"data": ids}`` → the transformed batch; picklable (Ray ships it to its workers)."""

    def __init__(self, records: NpyRecords, transform: RecordTransform, epoch: int):
        self.records, self.transform, self.epoch = records, transform, epoch

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = batch["data"]
        return self.transform.batch(self.records.gather(ids), ids, self.epoch)


class _FromArrow:
    """An Arrow batch of the Parquet file → NumPy fields of the stored shapes, then the transforms."""

    def __init__(self, shapes: dict[str, list[int]], transform: RecordTransform, epoch: int):
        self.shapes, self.transform, self.epoch = shapes, transform, epoch

    def __call__(self, table) -> dict[str, np.ndarray]:
        batch = _formats.arrow_to_numpy(table, self.shapes)
        return self.transform.batch(batch, batch.get("index"), self.epoch)


def _places_like_ray(job: Job) -> bool:
    """Whether ``iter_jax_batches``' placement is the job's: Ray shards over a 1-D mesh of
    every JAX device under its own axis name, which is the job's single device when JAX has
    one, and never a scenario's named mesh (DIST-*)."""
    import jax
    from jax.sharding import SingleDeviceSharding

    sharding = job.sharding()
    return isinstance(sharding, SingleDeviceSharding) and set(jax.devices()) == set(sharding.device_set)


def _iterate(dataset, job: Job, native: bool):
    """One epoch's batches: JAX arrays by Ray's own iterator (``native``), else NumPy."""
    options = dict(batch_size=job.variant.batch_size, drop_last=True, prefetch_batches=job.cpu_budget)
    if native:
        return dataset.iter_jax_batches(**options)
    return dataset.iter_batches(batch_format="numpy", **options)


class RayAdapter(LibraryAdapter):
    name = library = "ray"
    requires = ("pyarrow", "pandas")  # ray[data]
    ops = OPS
    backends = frozenset({"npy", "memory", "array_record", "parquet"})
    capabilities = SHARDED_CAPABILITIES | {"checkpoint"}

    def __init__(self):
        self._started = False

    def supports(self, scenario, variant) -> str | None:
        reason = super().supports(scenario, variant)
        if reason is None and dict(variant.params).get("backend") == "parquet" and scenario.transforms(variant):
            return "the Parquet path carries no record ids for per-record random parameters"
        return reason

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def _ray(self, cpus: int):
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token written to ~/.ray
        import ray

        if not ray.is_initialized():
            ray.init(
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=False,
                _temp_dir=tempfile.mkdtemp(prefix="ray-"),
            )
            self._started = True
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = True  # the seeded order, as the other loaders give
        return ray

    def open(self, job: Job, start: Position = Position()) -> Iterator[dict[str, Any]]:
        ray = self._ray(job.cpu_budget)
        native = job.on_device and _places_like_ray(job)
        if job.backend == "parquet":
            if start != Position():
                raise ValueError("the Parquet path (a random_shuffle per epoch) starts only at the first batch")
            batches = self._parquet(ray, job, native)
        else:
            batches = self._gathered(ray, job, _formats.records(job), native, start)
        return positioned(batches, job, start, (lambda b: b) if native else (lambda b: deliver(b, job)))

    def save_checkpoint(self, job: Job, iterator, directory) -> None:
        """PR-1: Ray Data has no iterator state to save (a Dataset is re-executed from its
        plan), so the state is the seeded sampler's position: epoch and batches consumed."""
        save_state(iterator, directory)

    def resume(self, job: Job, directory) -> Iterator[dict[str, Any]]:
        """PR-1: that epoch's Dataset built from the ids not consumed yet."""
        return self.open(job, load_state(directory))

    def _parquet(self, ray, job: Job, native: bool) -> Iterator[dict[str, Any]]:
        path = _formats.parquet_file(job)
        shapes = _formats.parquet_shapes(path)
        transform = RecordTransform(job.scenario.transforms(job.variant), job.seed)
        batch_size = job.variant.batch_size
        stored = ray.data.read_parquet(str(path), override_num_blocks=BLOCKS_PER_CPU * job.cpu_budget)
        epoch = 0
        while True:
            dataset = stored.random_shuffle(seed=job.seed * 1_000_003 + epoch) if job.shuffle else stored
            dataset = dataset.map_batches(_FromArrow(shapes, transform, epoch), batch_format="pyarrow", batch_size=batch_size)
            yield from _iterate(dataset, job, native)
            epoch += 1

    def _gathered(self, ray, job: Job, records: NpyRecords, native: bool, start: Position) -> Iterator[dict[str, Any]]:
        variant = job.variant
        transform = RecordTransform(job.scenario.transforms(variant), job.seed)
        n, batch_size = variant.num_records, variant.batch_size
        used = n // batch_size * batch_size
        block = max(1, used // batch_size // (BLOCKS_PER_CPU * job.cpu_budget)) * batch_size
        epoch, skip = start.epoch, start.batch * batch_size
        while True:
            order = epoch_order(n, job.seed, epoch, job.shuffle)[skip:used]
            skip = 0
            blocks = np.split(order, range(block, len(order), block))
            dataset = ray.data.from_numpy(blocks).map_batches(
                _GatherTransform(records, transform, epoch), batch_size=batch_size, batch_format="numpy"
            )
            yield from _iterate(dataset, job, native)
            epoch += 1

    def close(self) -> None:
        if self._started:
            import ray

            quiesce()
            ray.shutdown()
            self._started = False


def quiesce(timeout_s: float = QUIESCE_S) -> list[str]:
    """Wait for Ray Data's iterator and executor threads to end; the names of any still alive.

    A thread that fetches a block after ``ray.shutdown()`` meets a closed core worker, and Ray
    then ends the whole process. Iterators left open end when collected, so collect first.
    """
    gc.collect()
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread.name.startswith(RAY_DATA_THREADS):
            thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threading.enumerate() if t.name.startswith(RAY_DATA_THREADS) and t.is_alive()]
