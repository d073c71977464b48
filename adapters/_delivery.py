"""The shared delivery path for loaders without a device idiom of their own.

``deliver(batches, job)`` turns an iterator of host batches (dicts of NumPy arrays, or of
tensors NumPy can view: torch, TensorFlow) into what the job asks for. With
``job.delivery == "device"`` a small prefetch thread commits each batch to the job's device
with ``jax.device_put`` while the loader produces the next ones, ``DEPTH`` batches ahead (a mesh
cell's batches are assembled into global arrays with ``jax.make_array_from_process_local_data``
and the cell's ``NamedSharding``). The thread runs in the cell's process, which is pinned to
the cell's CPUs, so its work counts inside the loader's budget. With ``"host"`` the batches pass
through as NumPy arrays.

The thread owns the loader's iterator: it alone calls ``next`` on it and closes it when it
stops. An error in the loader is raised by the ``next()`` that would have returned its batch;
``close()``, or dropping the iterator, stops the thread and closes the loader's iterator.
"""

from __future__ import annotations

import queue
import threading
import weakref
from typing import Any, Iterator, Mapping

import numpy as np

from adapters.base import Job

DEPTH = 2  # batches committed ahead of the consumer
JOIN_S = 30.0  # how long close() waits for a loader's pending next() to return


def deliver(batches: Iterator[Mapping[str, Any]], job: Job) -> Iterator[dict[str, Any]]:
    """``batches`` delivered where ``job`` asks: device arrays (prefetched) or NumPy arrays."""
    if not job.on_device:
        return _host(batches)
    return DevicePrefetch(batches, job.sharding())


def put(batch: Mapping[str, Any], sharding) -> dict[str, Any]:
    """One host batch as ``jax.Array``s with ``sharding``: one ``device_put`` of the whole dict
    on one device, or the global arrays of a mesh from this process's rows."""
    import jax
    from jax.sharding import NamedSharding

    host = {name: np.asarray(leaf) for name, leaf in batch.items()}
    if isinstance(sharding, NamedSharding):
        return {name: jax.make_array_from_process_local_data(sharding, leaf) for name, leaf in host.items()}
    return jax.device_put(host, sharding)


def _host(batches: Iterator[Mapping[str, Any]]) -> Iterator[dict[str, np.ndarray]]:
    try:
        for batch in batches:
            yield {name: np.asarray(leaf) for name, leaf in batch.items()}
    finally:
        _close(batches)


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


class DevicePrefetch:
    """An iterator of device batches, put by a background thread ``depth`` batches ahead."""

    def __init__(self, batches: Iterator[Mapping[str, Any]], sharding, depth: int = DEPTH):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        # The thread holds no reference to this object, so dropping it runs the finalizer.
        self._thread = threading.Thread(
            target=_produce, args=(iter(batches), sharding, self._queue, self._stop), daemon=True,
            name="datarax-bench-delivery",
        )
        self._thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, self._thread, self._queue, self._stop)

    def __iter__(self) -> "DevicePrefetch":
        return self

    def __next__(self) -> dict[str, Any]:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END or isinstance(item, _Failed):
            self._done = True
            self.close()
            if item is _END:
                raise StopIteration
            raise item.error
        return item

    def close(self) -> None:
        """Stops the thread and closes the loader's iterator (waits for a pending batch)."""
        self._done = True
        self._finalizer()


def _produce(batches: Iterator, sharding, out: queue.Queue, stop: threading.Event) -> None:
    try:
        for batch in batches:
            if stop.is_set() or not _offer(out, put(batch, sharding), stop):
                return
        _offer(out, _END, stop)
    except BaseException as e:  # noqa: BLE001 - handed to the consumer's next()
        _offer(out, _Failed(e), stop)
    finally:
        _close(batches)


def _offer(out: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Puts ``item`` once there is room; False if told to stop first."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _shutdown(thread: threading.Thread, out: queue.Queue, stop: threading.Event) -> None:
    stop.set()
    _drain(out)
    if thread is not threading.current_thread():
        thread.join(JOIN_S)
    _drain(out)  # device buffers are freed now, not when the queue is collected


def _drain(out: queue.Queue) -> None:
    while True:
        try:
            out.get_nowait()
        except queue.Empty:
            return


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()
