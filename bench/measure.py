"""Timing what a training loop feels: every ``next()`` including production, batch materialized.

Runs inside the cell's own process. Raw samples are kept; statistics are computed from them.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, Mapping

import numpy as np
import psutil


class ProcessTreeSampler:
    """Samples RSS and CPU time of this process and all its descendants in a thread.

    Peak RSS is the largest sum of RSS over the tree at one sampling instant. CPU time is the
    sum over every process ever seen (a finished worker keeps its last sampled value).
    """

    def __init__(self, interval_s: float = 0.01):
        self.interval_s = interval_s
        self.peak_rss = 0
        self._cpu: dict[tuple[int, float], float] = {}
        self._root = psutil.Process()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def __enter__(self) -> "ProcessTreeSampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return
        rss = 0
        with self._lock:
            for proc in procs:
                try:
                    with proc.oneshot():
                        rss += proc.memory_info().rss
                        times = proc.cpu_times()
                        self._cpu[(proc.pid, proc.create_time())] = times.user + times.system
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, rss)

    def cpu_seconds(self) -> float:
        self.sample()
        with self._lock:
            return sum(self._cpu.values())


def materialize(batch: Mapping[str, Any]) -> tuple[int, int]:
    """Makes the batch's values real in memory; returns ``(elements, bytes)``.

    JAX arrays are waited on (``block_until_ready``); anything else is converted to a host
    NumPy array. Every leaf must share the leading (batch) dimension.
    """
    counts, nbytes = set(), 0
    for name, leaf in batch.items():
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        else:
            leaf = np.asarray(leaf)
        counts.add(int(leaf.shape[0]) if leaf.ndim else -1)
        nbytes += int(leaf.nbytes)
    if len(counts) != 1 or -1 in counts:
        raise ValueError(f"batch leaves disagree on the batch dimension: {sorted(counts)}")
    return counts.pop(), nbytes


def to_host(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.asarray(leaf) for name, leaf in batch.items()}


def _close(iterator: Iterator) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


def measure(
    open_iterator,
    *,
    check,
    expected_elements: int,
    warmup_batches: int,
    batches: int,
    repetitions: int,
    sampler: ProcessTreeSampler,
) -> dict[str, Any]:
    """Warm-up on one iterator, then ``repetitions`` fresh iterators of ``batches`` batches.

    ``check(host_batch) -> problem | None`` runs on the first batch before anything is timed;
    a problem ends the cell as non-conformant.
    """
    start = time.perf_counter()
    iterator = open_iterator()
    first = next(iterator)
    materialize(first)
    ttfb_cold = time.perf_counter() - start
    problem = check(to_host(first))
    if problem:
        _close(iterator)
        return {"status": "non-conformant", "reason": problem, "ttfb_cold_s": ttfb_cold}
    for _ in range(warmup_batches - 1):
        materialize(next(iterator))
    _close(iterator)

    cpu_before = sampler.cpu_seconds()
    latencies: list[list[float]] = []
    bytes_per_batch = 0
    for _ in range(repetitions):
        rep: list[float] = []
        previous = time.perf_counter()
        iterator = open_iterator()
        for _ in range(batches):
            elements, bytes_per_batch = materialize(next(iterator))
            now = time.perf_counter()
            rep.append(now - previous)
            previous = now
            if elements != expected_elements:
                _close(iterator)
                return {
                    "status": "non-conformant",
                    "reason": f"a batch had {elements} elements, expected {expected_elements}",
                    "ttfb_cold_s": ttfb_cold,
                }
        _close(iterator)
        latencies.append(rep)
    cpu_seconds = sampler.cpu_seconds() - cpu_before
    return {
        "status": "ok",
        "reason": None,
        "ttfb_cold_s": ttfb_cold,
        "latencies_s": latencies,
        "bytes_per_batch": bytes_per_batch,
        "cpu_seconds": cpu_seconds,
    }


def summarize(raw: dict[str, Any], batch_size: int) -> dict[str, Any]:
    """Metrics from raw samples. Steady state excludes each repetition's first batch."""
    reps = raw["latencies_s"]
    steady = [np.asarray(rep[1:]) for rep in reps]
    per_rep_eps = [batch_size * len(s) / s.sum() for s in steady]
    all_steady = np.concatenate(steady)
    elements = batch_size * sum(len(rep) for rep in reps)
    eps = float(np.median(per_rep_eps))
    return {
        "elements_per_s": eps,
        "batches_per_s": eps / batch_size,
        "bytes_per_s": eps / batch_size * raw["bytes_per_batch"],
        "ttfb_s": raw["ttfb_cold_s"],
        "ttfb_warm_s": float(np.median([rep[0] for rep in reps])),
        "latency_p50_s": float(np.percentile(all_steady, 50)),
        "latency_p95_s": float(np.percentile(all_steady, 95)),
        "latency_p99_s": float(np.percentile(all_steady, 99)),
        "cpu_s_per_element": raw["cpu_seconds"] / elements,
        "elements_per_s_by_repetition": per_rep_eps,
    }
