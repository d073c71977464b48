"""SPDL: ``PipelineBuilder`` — a source of shuffled id batches → gather + transforms → sink.

The work stage runs with ``concurrency=job.cpu_budget`` and keeps the source order. SPDL is
thread-based, which pays off when stages release the GIL; record-by-record Python work
(random crops) does not, so there the stage runs in a process pool of ``job.cpu_budget``
workers (SPDL's documented ``executor=`` escape hatch); vectorized work stays on threads.
Random parameters are keyed by (seed, epoch, record id). The work stage reads IO-1's
memory-mapped, in-RAM, ArrayRecord or Parquet records.

PR-1: the pipeline has no state of its own; the saved state is the source's position and a
resumed pipeline's source starts there.

Delivery: SPDL's device transfer (``spdl.io.transfer_tensor``) targets PyTorch CUDA tensors,
not JAX, so the sink's NumPy batches go through the shared overlapped ``jax.device_put``
(``adapters._delivery``).
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
from typing import Any, Iterator

import numpy as np

from adapters import _formats
from adapters._delivery import deliver
from adapters._element_ops import OPS, RecordTransform
from adapters._peer_state import SHARDED_CAPABILITIES, Position, id_batches_from, load_state, positioned, save_state
from adapters._records import NpyRecords
from adapters.base import Job, LibraryAdapter


def _load(records: NpyRecords, transform: RecordTransform, item: tuple[Position, np.ndarray]) -> dict[str, np.ndarray]:
    position, ids = item
    return transform.batch(records.gather(ids), ids, position.epoch)


class SpdlAdapter(LibraryAdapter):
    name = library = "spdl"
    ops = OPS
    backends = frozenset({"npy", "memory", "array_record", "parquet"})
    capabilities = SHARDED_CAPABILITIES | {"checkpoint"}

    def __init__(self):
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def save_checkpoint(self, job: Job, iterator, directory) -> None:
        """PR-1: an SPDL pipeline keeps no state of its own (its source is the user's
        iterable), so the state is the seeded source's position: epoch and batches consumed."""
        save_state(iterator, directory)

    def resume(self, job: Job, directory) -> Iterator[dict[str, Any]]:
        """PR-1: a new pipeline whose source starts at the saved position."""
        return self.open(job, load_state(directory))

    def open(self, job: Job, start: Position = Position()) -> Iterator[dict[str, Any]]:
        from spdl.pipeline import PipelineBuilder

        transform = RecordTransform(job.scenario.transforms(job.variant), job.seed)
        executor = None
        if transform.stochastic and job.cpu_budget > 1:
            if self._pool is None:
                # Workers start on demand, when SPDL's threads already run: fork from a clean
                # server process instead of this multithreaded one.
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=job.cpu_budget, mp_context=multiprocessing.get_context("forkserver")
                )
            executor = self._pool
        pipeline = (
            PipelineBuilder()
            .add_source(id_batches_from(job, start))
            .pipe(
                functools.partial(_load, _formats.records(job), transform),
                concurrency=job.cpu_budget,
                executor=executor,
                output_order="input",
            )
            .add_sink(buffer_size=job.cpu_budget)
            .build(num_threads=job.cpu_budget)
        )
        return positioned(self._run(pipeline), job, start, lambda batches: deliver(batches, job))

    @staticmethod
    def _run(pipeline) -> Iterator[dict[str, Any]]:
        pipeline.start()
        try:
            yield from pipeline.get_iterator()
        finally:
            pipeline.stop()

    def close(self) -> None:
        super().close()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
