"""Running a pipeline: the host side (sampler → gather → host stages → device transfer) in a
background thread, overlapped with the compiled step on the consumer's side.

The producer thread never holds a reference to the iterator, so dropping the iterator (or
calling ``close()``) stops the thread; an exception in the thread is re-raised by ``next()``.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Sequence

import jax
import numpy as np
from flax import nnx

from datarax.core.module import HostStage
from datarax.dag.cache import Cache
from datarax.dag.monitor import StageTimes
from datarax.dag.nodes import Node
from datarax.distributed.sharding import to_global
from datarax.samplers.sampler import IndexSampler
from datarax.sources.base import DataSourceModule
from datarax.typing import Batch

VALID_FIELD = "valid"


@dataclasses.dataclass(frozen=True)
class HostBatch:
    """One batch ready for the compiled step, tagged with where it sits in the stream."""

    epoch: int
    batch_index: int
    arrays: tuple[Batch, Any, Any]  # (batch, record ids, epoch) on the device


def host_batches(
    sampler: IndexSampler,
    source: DataSourceModule,
    host_stages: Sequence[HostStage],
    start: tuple[int, int],
    num_epochs: int | None,
    times: StageTimes | None = None,
    sharding: Any = None,
) -> Iterator[HostBatch]:
    """Batches from position ``start = (epoch, batch_index)`` to the end of the stream, each
    resident on the device when yielded; ``times`` counts the gather and the transfer. With a
    ``sharding`` (:func:`datarax.distributed.batch_sharding`) each batch is this process's part
    of a global array sharded over the mesh.

    The transfer is a jitted identity: jit's C++ dispatch takes NumPy arguments in tens of
    microseconds, where ``jax.device_put`` spends hundreds in Python per batch.
    """
    epoch, index = start
    batch_size = sampler.config.batch_size
    times = times or StageTimes()
    while num_epochs is None or epoch < num_epochs:
        started = time.perf_counter()
        ids, valid = sampler.batch(epoch, index)
        batch = source.gather(ids, epoch=epoch)
        bad = {k: np.shape(v) for k, v in batch.items() if np.ndim(v) == 0 or len(v) != batch_size}
        if bad:
            raise ValueError(f"{type(source).__name__}.gather returned fields {bad}, expected {batch_size} rows")
        if valid is not None:
            if VALID_FIELD in batch:
                raise ValueError(f"the source has a field {VALID_FIELD!r}, which padded batches reserve")
            batch[VALID_FIELD] = valid
        for stage in host_stages:
            batch = stage.apply_records(batch, ids, epoch) if isinstance(stage, Cache) else stage.apply_host(batch)
        gathered = time.perf_counter()
        arrays = (batch, ids.astype(np.int32), np.int32(epoch))
        arrays = jax.block_until_ready(_to_device(arrays) if sharding is None else to_global(arrays, sharding))
        times.add("gather", gathered - started)
        times.add("host_to_device", time.perf_counter() - gathered)
        yield HostBatch(epoch, index, arrays)
        index += 1
        if index == sampler.batches_per_epoch:
            epoch, index = epoch + 1, 0


_to_device = jax.jit(lambda arrays: arrays)


@functools.lru_cache(maxsize=64)
def compile_step(graphdef: nnx.GraphDef, treedef: Any, names: tuple[str, ...]) -> Callable:
    """``step(leaves, batch, record_ids, epoch) -> batch``: every node traced into one jit.

    ``leaves`` are the stages' variables flattened by ``treedef`` (a flat list crosses the
    jit boundary faster than an ``nnx.State``).

    Cached by graph structure, so pipelines built alike (a restarted job, a benchmark's
    fresh iterators) share compilations; jit itself caches per batch shape. Tracing checks
    that each node keeps the batch dimension, so an operator that drops or adds records fails
    with its name rather than producing misaligned batches.
    """

    def step(leaves, batch, record_ids, epoch):
        return run_stages(nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves)), batch, record_ids, epoch)

    return jax.jit(step)


def run_stages(stages: Sequence[Node], batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
    """Applies ``stages`` (a pipeline's ``stages``) to one batch: the body of the compiled step.

    Traceable and differentiable: call it inside ``nnx.grad``/``nnx.jit`` to train the
    stages' parameters on batches from :meth:`Pipeline.inputs`.
    """
    size = record_ids.shape[0]
    for node in stages:
        batch = node.apply_batch(batch, record_ids, epoch)
        check_stage_output(node.name, batch, size)
    if not isinstance(batch, dict):
        raise TypeError(f"the last stage {stages[-1].name} returned {len(batch)} branches: "
                        "end a Parallel node with a Merge")
    return batch


def check_stage_output(name: str, batch: Any, size: int) -> None:
    """A stage returns a dict batch (or a Parallel node's tuple of them) of ``size`` rows."""
    for one in batch if isinstance(batch, tuple) else (batch,):
        if not isinstance(one, dict):
            raise TypeError(f"stage {name} returned {type(one).__name__}, expected a dict batch")
        wrong = {k: tuple(v.shape) for k, v in one.items() if not v.shape or v.shape[0] != size}
        if wrong:
            raise ValueError(
                f"stage {name} changed the batch dimension: fields {wrong} should have "
                f"{size} rows; operators must keep one output record per input record"
            )


class _End:
    pass


@dataclasses.dataclass
class _Failure:
    error: BaseException


def _produce(items: Iterator[HostBatch], out: queue.Queue, stop: threading.Event) -> None:
    """Thread body: fills ``out`` until the stream ends, ``stop`` is set, or it fails."""
    try:
        for item in items:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.05)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_End())
    except BaseException as error:  # noqa: BLE001 - handed to the consumer, re-raised there
        out.put(_Failure(error))


def _shutdown(stop: threading.Event, pending: queue.Queue, thread: threading.Thread) -> None:
    stop.set()
    while thread.is_alive():
        try:  # unblock a producer waiting on a full queue
            pending.get_nowait()
        except queue.Empty:
            pass
        thread.join(timeout=0.05)


class BatchIterator:
    """Yields the compiled step's output (dicts of ``jax.Array``) for each host batch.

    ``on_consumed(epoch, batch_index)`` is called once a batch has been handed out, so the
    owner's state counts batches *consumed*, never batches merely prefetched. ``times`` (shared
    with ``items``) collects the stage counters :meth:`stage_times` reports; with
    ``wait_for_step`` each step's result is waited for, so its time is counted too.
    """

    def __init__(
        self,
        items: Iterator[HostBatch],
        step: Callable,
        stage_state: Callable[[], Any],
        on_consumed: Callable[[int, int], None],
        prefetch: int,
        times: StageTimes | None = None,
        wait_for_step: bool = False,
    ):
        self._step, self._stage_state, self._on_consumed = step, stage_state, on_consumed
        self._times, self._wait_for_step = times or StageTimes(), wait_for_step
        self._closed = False
        if prefetch > 0:
            self._queue: queue.Queue | None = queue.Queue(maxsize=prefetch)
            stop = threading.Event()
            thread = threading.Thread(
                target=_produce, args=(items, self._queue, stop), name="datarax-prefetch", daemon=True
            )
            thread.start()
            self._finalizer = weakref.finalize(self, _shutdown, stop, self._queue, thread)
        else:
            self._queue, self._items = None, items
            self._finalizer = weakref.finalize(self, items.close)

    def __iter__(self) -> "BatchIterator":
        return self

    def _next_item(self) -> HostBatch:
        if self._queue is None:
            return next(self._items)
        item = self._queue.get()
        if isinstance(item, _End):
            raise StopIteration
        if isinstance(item, _Failure):
            raise item.error
        return item

    def __next__(self) -> Batch:
        if self._closed:
            raise StopIteration
        try:
            asked = time.perf_counter()
            item = self._next_item()
            got = time.perf_counter()
            out = self._step(self._stage_state(), *item.arrays)
            if self._wait_for_step:
                jax.block_until_ready(out)
                self._times.add("step", time.perf_counter() - got)
        except BaseException:
            self.close()
            raise
        if self._queue is not None:
            self._times.add("queue_wait", got - asked)
        self._on_consumed(item.epoch, item.batch_index)
        return out

    def stage_times(self) -> dict[str, float]:
        """Seconds and batches per stage so far (``gather_s``, ``gather_batches``, …; see
        :class:`~datarax.dag.monitor.StageTimes`)."""
        return self._times.report()

    def close(self) -> None:
        """Stops the background thread; later ``next()`` calls raise ``StopIteration``."""
        self._closed = True
        self._finalizer()
