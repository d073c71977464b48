"""The iterator over a pipeline's output: chunks produced ahead, batches handed out one by one.

A *producer* turns host chunks (:func:`datarax.dag.executor.host_chunks`) into per-batch
payloads — already-dispatched step outputs when the stages' variables are frozen, device
arrays awaiting the step otherwise. It runs inline in ``next()`` (keeping ``prefetch`` batches
dispatched ahead: XLA computes them while the caller uses the current one) or in a background
thread (for sources whose reads block on I/O). ``next()`` hands out one payload, finishing it
(running the step now, with the current variables) when it is not dispatched yet, then runs
the ``OUTPUT`` stages and, when one of them regroups the stream, cuts the records into output
batches of its size. It advances its :class:`Position` as batches are handed out, so the
position counts batches consumed, never batches merely prefetched. An exception in the
producer is raised by ``next()`` after the batches produced before it; dropping the iterator
(or ``close()``) stops the thread.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp

from datarax.core.stage import Stage
from datarax.dag.executor import HostChunk, following
from datarax.dag.monitor import StageTimes
from datarax.typing import Batch

Ready = list[tuple[tuple[int, int], Any, Any]]  # per batch: (epoch, index), payload, host record ids


class Position:
    """Where a pipeline's next output starts: batch ``batch_index`` of ``epoch``, after its first
    ``record_offset`` records (non-zero only when a stage such as ``Rebatch`` regroups the
    output). Mutable, and written by one iterator only: the one that owns it."""

    __slots__ = ("epoch", "batch_index", "record_offset")

    def __init__(self, epoch: int = 0, batch_index: int = 0, record_offset: int = 0):
        self.epoch, self.batch_index, self.record_offset = epoch, batch_index, record_offset

    def copy(self) -> "Position":
        return Position(self.epoch, self.batch_index, self.record_offset)

    def __repr__(self) -> str:
        return f"Position(epoch={self.epoch}, batch_index={self.batch_index}, record_offset={self.record_offset})"


def dispatch_ahead(step: Callable, leaves: Any, times: StageTimes, wait: bool) -> Callable[[HostChunk], Sequence[Any]]:
    """Producer side for frozen variables: each chunk's step is dispatched as it is gathered.

    ``wait`` blocks on each step so its time is counted as ``step`` (else ``dispatch`` counts
    only the call, the computation running asynchronously).
    """

    def run(chunk: HostChunk) -> Sequence[Any]:
        started = time.perf_counter()
        out = step(leaves, *chunk.arrays)
        if wait:
            jax.block_until_ready(out)
        times.add("step" if wait else "dispatch", time.perf_counter() - started, len(chunk.positions))
        return out[: len(chunk.positions)] if chunk.stacked else (out,)

    return run


def step_on_demand(step: Callable, stage_state: Callable[[], Any], times: StageTimes, wait: bool) -> Callable[[Any], Batch]:
    """Consumer side for live variables: the step runs in ``next()`` with the variables as they
    are then, so training between batches shows in the next one."""

    def run(arrays) -> Batch:
        started = time.perf_counter()
        out = step(stage_state(), *arrays)
        if wait:
            jax.block_until_ready(out)
        times.add("step" if wait else "dispatch", time.perf_counter() - started)
        return out

    return run


def unstack_arrays(chunk: HostChunk) -> Sequence[Any]:
    """Producer side that leaves the step to :func:`step_on_demand` (single-batch chunks)."""
    if chunk.stacked:
        raise ValueError("live stages run one batch per step; the chunk must be unstacked")
    return (chunk.arrays,)


def _ready(chunks: Iterator[HostChunk], produce: Callable[[HostChunk], Sequence[Any]], with_ids: bool) -> Iterator[Ready]:
    for chunk in chunks:
        payloads = produce(chunk)
        if with_ids:
            yield [(p, out, chunk.batch_ids(k)) for k, (p, out) in enumerate(zip(chunk.positions, payloads))]
        else:
            yield [(p, out, None) for p, out in zip(chunk.positions, payloads)]


class _End:
    pass


@dataclasses.dataclass
class _Failure:
    error: BaseException


def _fill(items: Iterator[Ready], out: queue.Queue, stop: threading.Event) -> None:
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


class PipelineIterator:
    """Yields one output batch (a dict of ``jax.Array``) per ``next()`` and advances
    ``position`` once it is handed out. ``times`` (shared with the producer) collects the
    counters :meth:`stage_times` reports."""

    def __init__(
        self,
        chunks: Iterator[HostChunk],
        produce: Callable[[HostChunk], Sequence[Any]],
        position: Position,
        batches_per_epoch: int,
        *,
        prefetch: int,
        threaded: bool,
        times: StageTimes,
        finish: Callable[[Any], Batch] | None = None,
        output_stages: Sequence[Stage] = (),
        output_size: int | None = None,
    ):
        self._position, self._per_epoch = position, batches_per_epoch
        self._finish, self._times, self._output_stages = finish, times, tuple(output_stages)
        self._prefetch, self._closed, self._error = prefetch, False, None
        self._pending: collections.deque = collections.deque()
        # Regrouping: [epoch, index, batch, first unread row, rows] per underlying batch.
        self._output_size, self._pieces, self._buffered = output_size, collections.deque(), 0
        self._skip, self._last = position.record_offset, None
        ready = _ready(chunks, produce, bool(output_stages))
        if threaded:
            self._queue: queue.Queue | None = queue.Queue(maxsize=max(1, prefetch))
            stop = threading.Event()
            thread = threading.Thread(target=_fill, args=(ready, self._queue, stop), name="datarax-prefetch", daemon=True)
            thread.start()
            self._finalizer = weakref.finalize(self, _shutdown, stop, self._queue, thread)
        else:
            self._queue, self._ready = None, ready
            self._finalizer = weakref.finalize(self, ready.close)

    def __iter__(self) -> "PipelineIterator":
        return self

    def _refill(self) -> None:
        """Inline: keep ``prefetch`` batches beyond the next one produced. Threaded: take the
        thread's next chunk when none is left. A producer error is raised once the batches
        produced before it have been handed out."""
        if self._queue is None:
            while self._error is None and len(self._pending) <= self._prefetch:
                try:
                    item = next(self._ready, None)
                except Exception as error:  # noqa: BLE001 - raised after the good batches
                    self._error = error
                    break
                if item is None:
                    break
                self._pending.extend(item)
        elif not self._pending and self._error is None:
            asked = time.perf_counter()
            item = self._queue.get()
            if isinstance(item, _Failure):
                self._error = item.error
            elif not isinstance(item, _End):
                self._pending.extend(item)
                self._times.add("queue_wait", time.perf_counter() - asked, len(item))
        if not self._pending and self._error is not None:
            raise self._error

    def _take(self) -> tuple[tuple[int, int], Batch]:
        """The next underlying batch, stepped and through the output stages."""
        self._refill()
        if not self._pending:
            raise StopIteration
        where, payload, ids = self._pending.popleft()
        batch = payload if self._finish is None else self._finish(payload)
        for stage in self._output_stages:
            batch = stage.apply_batch(batch, ids, where[0])
        return where, batch

    def __next__(self) -> Batch:
        if self._closed:
            raise StopIteration
        try:
            if self._output_size is not None:
                return self._regroup()
            where, batch = self._take()
        except BaseException:
            self.close()
            raise
        position = self._position
        position.epoch, position.batch_index = following(where, self._per_epoch)
        position.record_offset = 0
        return batch

    def _regroup(self) -> Batch:
        """The next ``output_size`` records across underlying batches (fewer at a finite end)."""
        size, pieces = self._output_size, self._pieces
        while self._buffered < size:
            try:
                (epoch, index), batch = self._take()
            except StopIteration:
                if not self._buffered:
                    raise
                break
            rows = len(next(iter(batch.values())))
            pieces.append([epoch, index, batch, min(self._skip, rows), rows])
            self._buffered += rows - pieces[-1][3]
            self._skip, self._last = 0, (epoch, index)
        out, wanted = [], size
        while pieces and (wanted or pieces[0][3] == pieces[0][4]):
            piece = pieces[0]
            take = min(wanted, piece[4] - piece[3])
            if take:
                out.append({k: v[piece[3]:piece[3] + take] for k, v in piece[2].items()})
            piece[3] += take
            wanted -= take
            self._buffered -= take
            if piece[3] == piece[4]:
                pieces.popleft()
        position = self._position
        if pieces:
            position.epoch, position.batch_index, position.record_offset = pieces[0][0], pieces[0][1], pieces[0][3]
        else:
            (position.epoch, position.batch_index), position.record_offset = following(self._last, self._per_epoch), 0
        return out[0] if len(out) == 1 else {k: jnp.concatenate([p[k] for p in out]) for k in out[0]}

    def stage_times(self) -> dict[str, float]:
        """Seconds and batches per stage so far (``gather_s``, ``gather_batches``, …; see
        :class:`~datarax.dag.monitor.StageTimes`)."""
        return self._times.report()

    def close(self) -> None:
        """Stops the background thread; later ``next()`` calls raise ``StopIteration``."""
        self._closed = True
        self._pending.clear()
        self._finalizer()
