"""Timing what a training loop feels: every ``next()`` including production, batch materialized.

Runs inside the cell's own process and keeps raw samples; statistics come from them. Nothing
else runs in this process while it measures: memory is sampled from outside by the runner
(a sampling thread here would compete with a Python loader for the GIL), and CPU time is read
exactly at the edges of the timed region, not sampled.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any, Callable, Iterator, Mapping

import numpy as np

Check = Callable[[Mapping[str, np.ndarray]], "str | None"]
WARM_OPENS = 3  # fresh iterators opened after the windows to time a warm first batch


class NonConformant(Exception):
    """A batch broke the scenario's contract; the cell is reported, not timed."""


def materialize(batch: Any) -> tuple[int, int]:
    """Makes the batch's values real in memory; returns ``(elements, bytes)``.

    JAX arrays are waited on (``block_until_ready``: the batch is ready on its device, where a
    training step would read it); anything else becomes a host NumPy array. Every leaf must
    share the leading (batch) dimension.
    """
    if not isinstance(batch, Mapping):
        raise NonConformant(f"a batch is a {type(batch).__name__}, expected a dict of arrays")
    counts, nbytes = set(), 0
    for leaf in batch.values():
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        else:
            leaf = np.asarray(leaf)
        counts.add(int(leaf.shape[0]) if leaf.ndim else -1)
        nbytes += int(leaf.nbytes)
    if len(counts) != 1 or -1 in counts:
        raise NonConformant(f"batch leaves disagree on the batch dimension: {sorted(counts)}")
    return counts.pop(), nbytes


def wait_ready(batch: Any) -> None:
    """The timed part of :func:`materialize`: device values waited on, the rest made host
    arrays. Counting and checking the batch is the harness's work, done outside the clock."""
    if not isinstance(batch, Mapping):
        raise NonConformant(f"a batch is a {type(batch).__name__}, expected a dict of arrays")
    for leaf in batch.values():
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        else:
            np.asarray(leaf)


def to_host(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.asarray(leaf) for name, leaf in batch.items()}


def signature(batch: Mapping[str, Any]) -> tuple:
    """Field names, shapes and dtypes: every timed batch must match the checked first one.

    Read on every timed batch, so kept cheap: dtype objects compare directly (``str(dtype)``
    alone costs ~8 µs, a tenth of a fast loader's whole batch).
    """
    return tuple((name, tuple(batch[name].shape), batch[name].dtype) for name in sorted(batch))


def same_layout(a: tuple, b: tuple) -> bool:
    """Signatures that differ at most in non-leading sizes (a variable-width field, e.g. NLP-2's
    bucketed token width): such a batch is conformant only if it passes the full check too."""
    return len(a) == len(b) and all(
        (na, len(sa), sa[:1], da) == (nb, len(sb), sb[:1], db) for (na, sa, da), (nb, sb, db) in zip(a, b)
    )


def _next(iterator: Iterator) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        raise NonConformant("the iterator ended; an adapter's iterator runs epoch after epoch") from None


def _close(iterator: Iterator) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


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
) -> dict[str, Any]:
    """One iterator: its first batch, warm-up, then ``repetitions`` consecutive windows of
    ``batches`` batches (each extended, batch by batch, until it has lasted ``min_window_s``);
    then ``WARM_OPENS`` fresh iterators, each to its first batch.

    ``check(host_batch) -> problem | None`` runs on the first batch, untimed; a problem, or a
    later batch whose fields, shapes or dtypes differ, raises :class:`NonConformant` (unless
    only non-leading sizes differ and that batch passes ``check`` too: see :func:`same_layout`).
    Returns raw samples: cold time to first batch (open + first batch, compilation and
    worker start-up included), per-window per-batch latencies, warm times to first batch,
    bytes per batch, CPU seconds of the process tree over the windows, and the CPU seconds
    ``steal_clock`` (a virtual machine's stolen time) advanced over them (None if it cannot tell).
    """
    start = time.perf_counter()
    iterator = open_iterator()
    first = _next(iterator)
    materialize(first)
    ttfb_cold = time.perf_counter() - start
    problem = check(to_host(first))
    if problem:
        _close(iterator)
        raise NonConformant(problem)
    expected = signature(first)
    # Signatures seen and checked (more than one only for variable-width fields), and the
    # bytes of a batch of each.
    accepted = {expected: materialize(first)[1]}
    del first
    for _ in range(warmup_batches - 1):
        materialize(_next(iterator))

    # Timed windows: consecutive stretches of one warmed-up iterator. A fresh iterator per
    # window would hide each loader's prefetch (workers, chunks dispatched ahead) inside its
    # first batch, and loaders that run further ahead would hide more.
    gc.collect()  # the set-up's garbage is not the windows' cost
    before = _stage_times(iterator)  # the first batch's compilation is not the windows' either
    latencies: list[list[float]] = []
    steals: list[float | None] = []
    bytes_per_batch = 0
    cpu_seconds = 0.0
    for _ in range(repetitions):
        rep: list[float] = []
        timed = 0.0
        steal_start = steal_clock()
        cpu_start = cpu_clock()
        previous = time.perf_counter()
        while len(rep) < batches or timed < min_window_s:
            batch = _next(iterator)
            wait_ready(batch)
            rep.append(time.perf_counter() - previous)
            timed += rep[-1]
            seen = signature(batch)  # the harness's own bookkeeping: outside every latency
            if seen not in accepted:
                problem = (check(to_host(batch)) if same_layout(seen, expected)
                           else "its fields, ranks, dtypes or batch size differ")
                if problem:
                    _close(iterator)
                    raise NonConformant(f"a timed batch has {seen}, the first had {expected}: {problem}")
                accepted[seen] = materialize(batch)[1]
            bytes_per_batch = accepted[seen]
            previous = time.perf_counter()
        cpu_seconds += cpu_clock() - cpu_start  # the window's span, read at its edges
        steal_end = steal_clock()
        steals.append(None if steal_start is None or steal_end is None else steal_end - steal_start)
        latencies.append(rep)
    stages = {name: value - before.get(name, 0.0) for name, value in _stage_times(iterator).items()}
    _close(iterator)
    del iterator, batch
    return {
        "ttfb_cold_s": ttfb_cold,
        "ttfb_warm_s": [_time_to_first_batch(open_iterator) for _ in range(WARM_OPENS)],
        "latencies_s": latencies,
        "bytes_per_batch": bytes_per_batch,
        "cpu_seconds": cpu_seconds,
        "stolen_cpu_seconds": None if None in steals else sum(steals),
        "stage_times": stages,
    }


def _time_to_first_batch(open_iterator: Callable[[], Iterator]) -> float:
    """A fresh iterator's wait for its first batch, once set-up and compilation are done."""
    gc.collect()
    start = time.perf_counter()
    iterator = open_iterator()
    wait_ready(_next(iterator))
    seconds = time.perf_counter() - start
    _close(iterator)
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
        "ttfb_warm_s_by_repetition": [float(t) for t in raw["ttfb_warm_s"]],
        **_per_batch_stages(raw.get("stage_times") or {}),
    }


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
