"""The iterator over a pipeline's output: chunks produced ahead, batches handed out one by one.

A *producer* turns host chunks (:func:`datarax.dag.executor.host_chunks`) into per-batch
payloads — already-dispatched step outputs when the stages' variables are frozen, device
arrays awaiting the step otherwise. It runs inline in ``next()`` (keeping ``prefetch`` batches
dispatched ahead: XLA computes them while the caller uses the current one) or in a background
thread (for sources whose reads block on I/O). ``next()`` hands out one payload, finishing it
(running the step now, with the current variables) when it is not dispatched yet.
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

from datarax.dag.executor import HostChunk, Position
from datarax.dag.monitor import StageTimes
from datarax.typing import Batch

Ready = list[tuple[Position, Any]]


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


def _ready(chunks: Iterator[HostChunk], produce: Callable[[HostChunk], Sequence[Any]]) -> Iterator[Ready]:
    for chunk in chunks:
        yield list(zip(chunk.positions, produce(chunk)))


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


class BatchIterator:
    """Yields one output batch (a dict of ``jax.Array``) per ``next()``.

    ``on_consumed(epoch, batch_index)`` is called once a batch has been handed out, so the
    owner's state counts batches *consumed*, never batches merely prefetched. ``times`` (shared
    with the producer) collects the counters :meth:`stage_times` reports.
    """

    def __init__(
        self,
        chunks: Iterator[HostChunk],
        produce: Callable[[HostChunk], Sequence[Any]],
        on_consumed: Callable[[int, int], None],
        *,
        prefetch: int,
        threaded: bool,
        times: StageTimes,
        finish: Callable[[Any], Batch] | None = None,
    ):
        self._on_consumed, self._finish, self._times = on_consumed, finish, times
        self._prefetch, self._closed, self._error = prefetch, False, None
        self._pending: collections.deque[tuple[Position, Any]] = collections.deque()
        ready = _ready(chunks, produce)
        if threaded:
            self._queue: queue.Queue | None = queue.Queue(maxsize=max(1, prefetch))
            stop = threading.Event()
            thread = threading.Thread(target=_fill, args=(ready, self._queue, stop), name="datarax-prefetch", daemon=True)
            thread.start()
            self._finalizer = weakref.finalize(self, _shutdown, stop, self._queue, thread)
        else:
            self._queue, self._ready = None, ready
            self._finalizer = weakref.finalize(self, ready.close)

    def __iter__(self) -> "BatchIterator":
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

    def __next__(self) -> Batch:
        if self._closed:
            raise StopIteration
        try:
            self._refill()
            if not self._pending:
                raise StopIteration
            (epoch, index), payload = self._pending.popleft()
            out = payload if self._finish is None else self._finish(payload)
        except BaseException:
            self.close()
            raise
        self._on_consumed(epoch, index)
        return out

    def stage_times(self) -> dict[str, float]:
        """Seconds and batches per stage so far (``gather_s``, ``gather_batches``, …; see
        :class:`~datarax.dag.monitor.StageTimes`)."""
        return self._times.report()

    def close(self) -> None:
        """Stops the background thread; later ``next()`` calls raise ``StopIteration``."""
        self._closed = True
        self._pending.clear()
        self._finalizer()
