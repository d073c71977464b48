"""The numbers behind the report: who wins each scenario, by how much, and how sure we are.

Confidence intervals are percentile bootstraps over the per-repetition throughputs a cell
recorded (``metrics.elements_per_s_by_repetition``), with a fixed seed so a report is
reproducible. A cell with a single repetition gets no interval, never a made-up one.
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
    """One ok cell on the scoreboard: its median throughput and its standing in its group."""

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
    groups: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}
    for (scenario, variant, adapter), record in latest_by_cell(records).items():
        reps = repetition_throughputs(record)
        if record["status"] == "ok" and len(reps):
            groups.setdefault((scenario, variant), []).append((adapter, reps))
    scores = []
    for (scenario, variant), cells in groups.items():
        cells.sort(key=lambda cell: -float(np.median(cell[1])))
        best = cells[0][1]
        for rank, (adapter, reps) in enumerate(cells):
            median = float(np.median(reps))
            scores.append(Score(
                scenario, variant, adapter, median, median_ci(reps),
                relative=median / float(np.median(best)),
                relative_ci=None if rank == 0 else ratio_ci(reps, best),
                repetitions=len(reps), is_best=rank == 0,
            ))
    return scores


def not_ok(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells that produced no timing (failed, timeout, unsupported, ...), in a stable order."""
    return sorted((r for r in latest_by_cell(records).values() if r["status"] != "ok"), key=cell_key)
