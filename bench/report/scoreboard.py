"""The numbers behind the report: who wins each scenario, by how much, and how sure we are.

A cell's figure is its sustained elements/s (every timed element over the time of every
window, the figure the README and the gate use); a cell run in several processes
(``--replicates``) shows the median of its processes' figures. Confidence intervals are
percentile bootstraps, with a fixed seed so a report is reproducible, over the processes'
figures, or for a single process over its windows' rates (which understate the spread
between processes). A cell with a single sample gets no interval, never a made-up one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

import numpy as np

BOOTSTRAP_RESAMPLES = 4000
CONFIDENCE = 0.95
_SEED = 0


def cell_key(record: dict[str, Any]) -> tuple[str, str, str]:
    return record["scenario"], record["variant"], record["adapter"]


def latest_by_cell(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """One record per (scenario, variant, adapter): the last one stored (a resumed run may repeat).

    Cells keep the order the run first stored them in, which is the profile's order.
    """
    return {cell_key(r): r for r in records}


def processes_by_cell(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Every process (replicate) of each cell, the last record of each replicate, in run order."""
    cells: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = {}
    for r in records:
        cells.setdefault(cell_key(r), {})[r.get("replicate", 0)] = r
    return {k: [v[i] for i in sorted(v)] for k, v in cells.items()}


def cell_figure(processes: list[dict[str, Any]]) -> tuple[float, np.ndarray]:
    """A cell's sustained elements/s (median over processes) and the samples for its interval."""
    rates = np.asarray([p["metrics"]["elements_per_s"] for p in processes], dtype=float)
    return float(np.median(rates)), rates if len(rates) > 1 else repetition_throughputs(processes[0])


def repetition_throughputs(record: dict[str, Any]) -> np.ndarray:
    """Per-repetition elements/s of an ``ok`` record (the headline alone when none were kept)."""
    metrics = record.get("metrics") or {}
    reps = metrics.get("elements_per_s_by_repetition")
    if reps:
        return np.asarray(reps, dtype=float)
    value = metrics.get("elements_per_s")
    return np.asarray([] if value is None else [value], dtype=float)


def _percentiles(samples: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _resampled_medians(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picks = rng.integers(0, len(x), size=(BOOTSTRAP_RESAMPLES, len(x)))
    return np.median(x[picks], axis=1)


def median_ci(x: np.ndarray) -> tuple[float, float] | None:
    """Bootstrap CI of the median of ``x``; None with fewer than two samples."""
    if len(x) < 2:
        return None
    return _percentiles(_resampled_medians(x, np.random.default_rng(_SEED)))


def ratio_ci(num: np.ndarray, den: np.ndarray) -> tuple[float, float] | None:
    """Bootstrap CI of median(num) / median(den), both sides resampled independently."""
    if len(num) < 2 or len(den) < 2:
        return None
    rng = np.random.default_rng(_SEED)
    return _percentiles(_resampled_medians(num, rng) / _resampled_medians(den, rng))


@dataclasses.dataclass(frozen=True)
class Score:
    """One ok cell on the scoreboard: its sustained throughput and its standing in its group;
    ``repetitions`` counts the samples behind the interval (processes, or one process's windows)."""

    scenario: str
    variant: str
    adapter: str
    elements_per_s: float
    ci: tuple[float, float] | None
    relative: float
    relative_ci: tuple[float, float] | None
    repetitions: int
    is_best: bool


def scoreboard(records: Iterable[dict[str, Any]]) -> list[Score]:
    """Ok cells grouped by (scenario, variant) in run order, best first; each relative to its group's best."""
    groups: dict[tuple[str, str], list[tuple[str, float, np.ndarray]]] = {}
    for (scenario, variant, adapter), processes in processes_by_cell(records).items():
        if all(p["status"] == "ok" for p in processes):
            figure, samples = cell_figure(processes)
            groups.setdefault((scenario, variant), []).append((adapter, figure, samples))
    scores = []
    for (scenario, variant), cells in groups.items():
        cells.sort(key=lambda cell: -cell[1])
        _, best, best_samples = cells[0]
        for rank, (adapter, figure, samples) in enumerate(cells):
            scores.append(Score(
                scenario, variant, adapter, figure, median_ci(samples),
                relative=figure / best,
                relative_ci=None if rank == 0 else ratio_ci(samples, best_samples),
                repetitions=len(samples), is_best=rank == 0,
            ))
    return scores


def not_ok(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells that produced no timing (failed, timeout, unsupported, ...), in a stable order."""
    return sorted((r for r in latest_by_cell(records).values() if r["status"] != "ok"), key=cell_key)
