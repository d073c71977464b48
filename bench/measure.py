"""Timing what a training loop feels: every ``next()`` including production, batch delivered.

Runs inside the cell's own process and keeps raw samples; statistics come from them. Nothing
else runs in this process while it measures: memory is sampled from outside by the runner
(a sampling thread here would compete with a Python loader for the GIL), and CPU time is read
exactly at the edges of the timed region, not sampled.

A batch's clock stops at the cell's delivery point (``bench.conformance.DeliveryPoint``):
``jax.Array``s on the cell's device, ready, or, in host mode, host NumPy arrays converted inside
the clock. Everything the harness checks about a batch runs outside its latency.

Warm-up: ``warmup_batches`` batches, then one untimed *drain window* of the timed windows'
sizing, discarded. A prefetching loader fills its queues while the first batches are checked
and compiled; without the drain window those queues empty into the first timed window, which
ran 1.2-1.6x faster than the rest for such loaders. Its rate is kept
(``drain_window_elements_per_s``) so the effect stays visible.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from bench.conformance import (  # noqa: F401 - NonConformant is imported from here by scenarios
    HOST, Check, DeliveryPoint, NonConformant, TimedSamples, same_layout, signature,
)

WARM_OPENS = 3  # fresh iterators opened after the windows to time a warm first batch


def materialize(batch: Any) -> tuple[int, int]:
    """Makes the batch's values real in memory; returns ``(elements, bytes)``.

    JAX arrays are waited on (``block_until_ready``: the batch is ready on its device, where a
    training step would read it); anything else becomes a host NumPy array. Every leaf must
    share the leading (batch) dimension.
    """
    if not isinstance(batch, Mapping):
        raise NonConformant(f"a batch is a {type(batch).__name__}, expected a dict of arrays")
    leaves = {}
    for name, leaf in batch.items():
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        else:
            leaf = np.asarray(leaf)
        leaves[name] = leaf
    return _count(leaves)


def _count(batch: Mapping[str, Any]) -> tuple[int, int]:
    counts, nbytes = set(), 0
    for leaf in batch.values():
        counts.add(int(leaf.shape[0]) if leaf.ndim else -1)
        nbytes += int(leaf.nbytes)
    if len(counts) != 1 or -1 in counts:
        raise NonConformant(f"batch leaves disagree on the batch dimension: {sorted(counts)}")
    return counts.pop(), nbytes


def to_host(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.asarray(leaf) for name, leaf in batch.items()}


def next_batch(iterator: Iterator) -> Any:
    """``next(iterator)``; an iterator that ends is non-conformant (loaders run forever)."""
    try:
        return next(iterator)
    except StopIteration:
        raise NonConformant("the iterator ended; an adapter's iterator runs epoch after epoch") from None


def close_iterator(iterator: Iterator) -> None:
    """Closes ``iterator`` when it can be closed (generators, loaders with worker pools)."""
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


class _Reader:
    """One iterator's batches as the harness reads them: ``next()`` to the delivery point is
    timed (:meth:`timed`); vetting the batch (:meth:`vet`) is bookkeeping, outside the clock."""

    def __init__(self, iterator: Iterator, delivery: DeliveryPoint, check: Check):
        self.iterator, self.delivery, self.check = iterator, delivery, check
        self.read = 0  # batches taken from the iterator so far
        self.expected: tuple | None = None
        self.accepted: dict[tuple, int] = {}  # signatures seen and checked -> bytes of a batch

    def timed(self) -> tuple[Mapping[str, Any], float]:
        start = time.perf_counter()
        batch = self.delivery.wait(next_batch(self.iterator))
        seconds = time.perf_counter() - start
        self.read += 1
        return batch, seconds

    def first(self, batch: Mapping[str, Any]) -> None:
        """The first batch: delivered where it must be and passing the scenario's check."""
        problem = self.delivery.problem(batch) or self.check(to_host(batch))
        if problem:
            raise NonConformant(problem)
        self.expected = signature(batch)
        self.accepted[self.expected] = _count(batch)[1]

    def vet(self, batch: Mapping[str, Any], where: str) -> int:
        """Delivered where it must be and laid out as the first batch; returns its bytes."""
        problem = self.delivery.problem(batch)
        if problem:
            raise NonConformant(f"{where}: {problem}")
        seen = signature(batch)
        if seen not in self.accepted:
            problem = (self.check(to_host(batch)) if same_layout(seen, self.expected)
                       else "its fields, ranks, dtypes or batch size differ")
            if problem:
                raise NonConformant(f"{where} has {seen}, the first had {self.expected}: {problem}")
            self.accepted[seen] = _count(batch)[1]
        return self.accepted[seen]


def _window(reader: _Reader, batches: int, min_window_s: float, where: str,
            samples: TimedSamples | None = None) -> tuple[list[float], int]:
    """One window: at least ``batches`` batches, on until it has lasted ``min_window_s``.
    Returns its latencies and the bytes of its last batch; with ``samples``, one of its first
    ``batches`` batches (drawn from their RNG) is kept for checking after the windows."""
    at = samples.position(batches) if samples is not None else -1
    rep: list[float] = []
    timed, nbytes = 0.0, 0
    while len(rep) < batches or timed < min_window_s:
        batch, seconds = reader.timed()
        rep.append(seconds)
        timed += seconds
        name = f"{where}, its batch {len(rep)} (batch {reader.read} of the iterator)"
        nbytes = reader.vet(batch, name)  # the harness's own bookkeeping: outside every latency
        if len(rep) - 1 == at:
            samples.keep(batch, name)
    return rep, nbytes


def measure(
    open_iterator: Callable[[], Iterator[Mapping[str, Any]]],
    *,
    check: Check,
    warmup_batches: int,
    batches: int,
    repetitions: int,
    cpu_clock: Callable[[], float],
    min_window_s: float = 0.0,
    steal_clock: Callable[[], float | None] = lambda: None,
    delivery: DeliveryPoint = HOST,
    sample_seed: int = 0,
) -> dict[str, Any]:
    """One iterator: its first batch, warm-up, an untimed drain window, then ``repetitions``
    consecutive windows of ``batches`` batches (each extended, batch by batch, until it has
    lasted ``min_window_s``); then ``WARM_OPENS`` fresh iterators, each to its first batch.

    Every ``next()`` is timed to ``delivery``'s point. ``check(host_batch) -> problem | None``
    runs on the first batch and, after the windows, on one batch of each timed window (a
    position drawn from an RNG seeded by ``sample_seed``), untimed. A problem, a batch not
    delivered where ``delivery`` needs it, or a later batch whose fields, shapes or dtypes
    differ raises :class:`NonConformant` naming the window and batch (a batch differing only in
    non-leading sizes must pass ``check`` too: see :func:`same_layout`).
    Returns raw samples: cold time to first batch (open + first batch, compilation and
    worker start-up included), per-window per-batch latencies, the drain window's latencies,
    warm times to first batch, bytes per batch, CPU seconds of the process tree over the
    windows, the CPU seconds ``steal_clock`` (a virtual machine's stolen time) advanced over
    them (None if it cannot tell), and the seconds the checks took (``conformance_s``).
    """
    start = time.perf_counter()
    iterator = open_iterator()
    samples = TimedSamples(sample_seed)
    try:
        reader = _Reader(iterator, delivery, check)
        first, _ = reader.timed()
        ttfb_cold = time.perf_counter() - start
        checking = time.perf_counter()
        reader.first(first)
        first_check_s = time.perf_counter() - checking
        del first
        for i in range(warmup_batches - 1):
            reader.vet(reader.timed()[0], f"warm-up batch {i + 2}")
        gc.collect()  # the set-up's garbage is not the windows' cost
        # Timed windows: consecutive stretches of one warmed-up iterator. A fresh iterator per
        # window would hide each loader's prefetch (workers, chunks dispatched ahead) inside
        # its first batch, and loaders that run further ahead would hide more.
        drained, _ = _window(reader, batches, min_window_s, "the drain window")
        before = _stage_times(iterator)  # the first batch's compilation is not the windows' either
        latencies: list[list[float]] = []
        steals: list[float | None] = []
        bytes_per_batch = 0
        cpu_seconds = 0.0
        for r in range(repetitions):
            steal_start = steal_clock()
            cpu_start = cpu_clock()
            rep, bytes_per_batch = _window(
                reader, batches, min_window_s, f"timed window {r + 1} of {repetitions}", samples)
            cpu_seconds += cpu_clock() - cpu_start  # the window's span, read at its edges
            steal_end = steal_clock()
            steals.append(None if steal_start is None or steal_end is None else steal_end - steal_start)
            latencies.append(rep)
        stages = {name: value - before.get(name, 0.0) for name, value in _stage_times(iterator).items()}
    except BaseException:
        samples.close()
        raise
    finally:
        close_iterator(iterator)
    del iterator, reader
    samples.check(check)
    return {
        "ttfb_cold_s": ttfb_cold,
        "ttfb_warm_s": [_time_to_first_batch(open_iterator, delivery) for _ in range(WARM_OPENS)],
        "latencies_s": latencies,
        "drain_latencies_s": drained,
        "bytes_per_batch": bytes_per_batch,
        "cpu_seconds": cpu_seconds,
        "stolen_cpu_seconds": None if None in steals else sum(steals),
        "stage_times": stages,
        "conformance_s": first_check_s + samples.seconds,
    }


def _time_to_first_batch(open_iterator: Callable[[], Iterator], delivery: DeliveryPoint) -> float:
    """A fresh iterator's wait for its first batch, once set-up and compilation are done."""
    gc.collect()
    start = time.perf_counter()
    iterator = open_iterator()
    try:
        batch = delivery.wait(next_batch(iterator))
        seconds = time.perf_counter() - start
        problem = delivery.problem(batch)
    finally:
        close_iterator(iterator)
    if problem:
        raise NonConformant(f"a fresh iterator's first batch: {problem}")
    return seconds


def _stage_times(iterator: Iterator) -> dict[str, float]:
    """The loader's own per-stage counters when its iterator keeps them (``stage_times()``,
    e.g. datarax's executor: cumulative ``{stage}_s`` and ``{stage}_batches``), else nothing."""
    report = getattr(iterator, "stage_times", None)
    return {k: float(v) for k, v in report().items()} if callable(report) else {}


def summarize(raw: dict[str, Any], batch_size: int) -> dict[str, Any]:
    """Metrics from raw samples.

    Throughput is sustained: every timed element over the time of every window (consecutive
    stretches of one warmed-up iterator). Not the median of the windows' rates: a loader whose
    work comes in lumps (a chunk of batches, a worker's refill) with a period that does not
    divide the window has cheap and dear windows, and the median picks the cheap ones (datarax's
    16-batch chunks in 20-batch windows read 1.5x high). The windows' rates are kept as the
    samples the regression gate compares. Latency percentiles pool every window's batches.
    """
    reps = raw["latencies_s"]
    steady = [np.asarray(rep) for rep in reps]
    per_rep_eps = [batch_size * len(s) / s.sum() for s in steady]
    pooled = np.concatenate(steady)
    elements = batch_size * sum(len(rep) for rep in reps)
    eps = float(elements / pooled.sum())
    return {
        "elements_per_s": eps,
        "batches_per_s": eps / batch_size,
        "bytes_per_s": eps / batch_size * raw["bytes_per_batch"],
        "bytes_per_batch": raw["bytes_per_batch"],
        "ttfb_s": raw["ttfb_cold_s"],
        "ttfb_warm_s": float(np.median(raw["ttfb_warm_s"])),
        "latency_mean_s": float(pooled.mean()),
        "latency_p50_s": float(np.percentile(pooled, 50)),
        "latency_p95_s": float(np.percentile(pooled, 95)),
        "latency_p99_s": float(np.percentile(pooled, 99)),
        "latency_samples": int(pooled.size),
        "cpu_seconds": raw["cpu_seconds"],
        "cpu_s_per_element": raw["cpu_seconds"] / elements,
        **_steal(raw.get("stolen_cpu_seconds"), float(pooled.sum())),
        "elements_per_s_by_repetition": per_rep_eps,
        "elements_per_s_median_window": float(np.median(per_rep_eps)),
        "drain_window_elements_per_s": _rate(raw.get("drain_latencies_s"), batch_size),
        "ttfb_warm_s_by_repetition": [float(t) for t in raw["ttfb_warm_s"]],
        **_per_batch_stages(raw.get("stage_times") or {}),
    }


def _rate(latencies: list[float] | None, batch_size: int) -> float | None:
    return batch_size * len(latencies) / sum(latencies) if latencies else None


def _steal(stolen: float | None, window_s: float) -> dict[str, Any]:
    """The share of the machine's CPU time a hypervisor gave to other guests during the
    windows: a loader using more threads loses more of it, so a high value marks a cell
    measured under interference. Absent, with the reason, where the kernel does not count it."""
    if stolen is None:
        return {"cpu_steal_absent": "no steal counter in /proc/stat here"}
    cpus = os.cpu_count() or 1
    return {"cpu_steal_s": stolen, "cpu_steal_fraction": min(1.0, stolen / (window_s * cpus)) if window_s > 0 else 0.0}


def _per_batch_stages(totals: dict[str, float]) -> dict[str, Any]:
    """``{stage}_s`` / ``{stage}_batches`` totals → ``stage_s_per_batch: {stage: seconds}``."""
    stages = {
        name.removesuffix("_s"): value / totals[name.removesuffix("_s") + "_batches"]
        for name, value in totals.items()
        if name.endswith("_s") and totals.get(name.removesuffix("_s") + "_batches")
    }
    return {"stage_s_per_batch": stages} if stages else {}
