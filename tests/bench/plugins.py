"""Adapters that misbehave on purpose, loaded by ``tests.bench.plugins:Class`` paths."""

import dataclasses
import itertools
import os
import time

import numpy as np

from adapters._delivery import put
from adapters.base import Adapter


def as_delivered(batch, job):
    """``batch`` where ``job`` wants it, put once: these loaders' costs stay exactly their sleeps."""
    return put(batch, job.sharding()) if job.on_device else batch


def reference_batch(job) -> dict[str, np.ndarray]:
    """The NumPy baseline's first batch of ``job``, on the host: values every check of the
    scenario accepts, made once, so a fake loader's cost stays its own."""
    return reference_batches(job)[0]


_STREAMS: dict[tuple, list[dict[str, np.ndarray]]] = {}


def reference_batches(job) -> list[dict[str, np.ndarray]]:
    """Host batches every check of ``job``'s scenario accepts, sampling included, made once per
    process: the NumPy baseline's first two epochs, or, for CV-1 (whose crops are slow to make
    and whose sampling is judged by labels), its first batch's images with each epoch's
    shuffled stored labels. Cycling them costs nothing, so a fake loader's cost stays its own."""
    key = (job.scenario_id, job.variant_name, job.seed)
    if key not in _STREAMS:
        from adapters.numpy_adapter import NumpyAdapter

        host = dataclasses.replace(job, delivery="host")
        count = max(1, job.scenario.sampling_batches(job.variant))
        iterator = NumpyAdapter().open(host)
        try:
            first = {name: np.asarray(leaf) for name, leaf in next(iterator).items()}
            if job.scenario_id == "CV-1":
                labels, variant = np.asarray(job.arrays()["label"]), job.variant
                orders = [np.random.default_rng([job.seed, e]).permutation(variant.num_records) for e in (0, 1)]
                ids = np.concatenate([o[: variant.num_records // variant.batch_size * variant.batch_size] for o in orders])
                batches = [{**first, "label": labels[chunk]} for chunk in ids.reshape(-1, variant.batch_size)]
            else:
                batches = [first, *({n: np.asarray(v) for n, v in b.items()} for b in itertools.islice(iterator, count - 1))]
        finally:
            getattr(iterator, "close", lambda: None)()
        _STREAMS[key] = batches
    return _STREAMS[key]


def delivered_batches(job) -> list:
    """``reference_batches`` where ``job`` wants them, each put once."""
    return [as_delivered(b, job) for b in reference_batches(job)]


class _Fake(Adapter):
    def version(self):
        return "test"

    def _batches(self, job, delivered=True):
        return delivered_batches(job) if delivered else reference_batches(job)


class SleepAdapter(_Fake):
    """Conformant batches, each produced after a 20 ms sleep."""

    name = "sleep"
    delay_s = 0.02

    def open(self, job):
        for batch in itertools.cycle(self._batches(job)):
            time.sleep(self.delay_s)
            yield batch


class HostOnlyAdapter(_Fake):
    """Conformant values, but host NumPy arrays whatever the job's delivery point."""

    name = "host-only"

    def open(self, job):
        yield from itertools.cycle(self._batches(job, delivered=False))


class CrashAdapter(_Fake):
    name = "crash"

    def open(self, job):
        os.abort()
        yield


class HangAdapter(_Fake):
    name = "hang"

    def open(self, job):
        time.sleep(3600)
        yield


class WrongShapeAdapter(_Fake):
    name = "wrong-shape"

    def open(self, job):
        batch = dict(reference_batch(job))
        batch["image"] = batch["image"][:, :-1]
        batch = as_delivered(batch, job)
        while True:
            yield batch


class UnavailableAdapter(_Fake):
    name = "unavailable"

    def available(self):
        return "library 'nothing' is not installed"

    def open(self, job):
        raise AssertionError("never opened")


class SlowStartAdapter(SleepAdapter):
    """Like SleepAdapter, but its first ``open`` takes 3 s (a cell long enough to interrupt)."""

    name = "slow-start"

    def open(self, job):
        if not getattr(self, "_started", False):
            self._started = True
            time.sleep(3)
        return super().open(job)


class MemoryHogAdapter(_Fake):
    """Touches 64 MiB more every 10 ms, up to 8 GiB: only a memory limit stops it in time."""

    name = "memory-hog"

    def open(self, job):
        hoard = []
        for _ in range(128):
            hoard.append(np.ones(64 * 2**20, np.uint8))
            time.sleep(0.01)
        time.sleep(3600)
        yield


def _hold(megabytes, ready, stop):
    block = np.ones(megabytes * 2**20, np.uint8)  # written, so every page is resident
    ready.set()
    stop.wait()
    del block


class WorkerMemoryAdapter(SleepAdapter):
    """Conformant batches from the cell process while a worker child holds 500 MiB."""

    name = "worker-memory"
    delay_s = 0.005
    megabytes = 500

    def open(self, job):
        if not hasattr(self, "_worker"):
            import multiprocessing

            ctx = multiprocessing.get_context("fork")
            self._ready, self._stop = ctx.Event(), ctx.Event()
            self._worker = ctx.Process(target=_hold, args=(self.megabytes, self._ready, self._stop))
            self._worker.start()
            if not self._ready.wait(60):
                raise RuntimeError("the worker did not allocate its memory within 60 s")
        return super().open(job)

    def close(self):
        if hasattr(self, "_worker"):
            self._stop.set()
            self._worker.join(10)
