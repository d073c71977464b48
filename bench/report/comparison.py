"""Per-cell comparison of a run against a baseline.

When the regression gate's module (``bench.compare``) is installed, the report shows its
verdicts with the profile's gate settings: ratio of medians with a bootstrap CI, Mann-Whitney
p, and regression / improvement / no change / unreliable / incomparable. Without it the report
falls back to :func:`compare_runs`, a plain ratio of medians with a bootstrap CI and no verdict.
Either way, > 1 means the run is faster than the baseline.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bench.report.scoreboard import latest_by_cell, ratio_ci, repetition_throughputs

METHOD = "ratio of median elements/s (current / baseline) with a 95% bootstrap CI; no significance test"
ELEMENTS_PER_S = "elements/s"


@dataclasses.dataclass(frozen=True)
class CellComparison:
    scenario: str
    variant: str
    adapter: str
    baseline: float | None
    current: float | None
    ratio: float | None
    ci: tuple[float, float] | None
    note: str
    verdict: str = ""
    p: float | None = None


def _fingerprint(record: dict[str, Any], meta: dict[str, Any]) -> str | None:
    return record.get("machine_fingerprint") or (meta.get("machine") or {}).get("fingerprint")


def compare_runs(
    current: list[dict[str, Any]], baseline: list[dict[str, Any]],
    current_meta: dict[str, Any] | None = None, baseline_meta: dict[str, Any] | None = None,
) -> list[CellComparison]:
    """One row per cell present in either run, matched by (scenario, variant, adapter)."""
    now, then = latest_by_cell(current), latest_by_cell(baseline)
    rows = []
    for key in sorted(set(now) | set(then)):
        a, b = now.get(key), then.get(key)
        a_reps = repetition_throughputs(a) if a and a["status"] == "ok" else np.empty(0)
        b_reps = repetition_throughputs(b) if b and b["status"] == "ok" else np.empty(0)
        a_med = float(np.median(a_reps)) if len(a_reps) else None
        b_med = float(np.median(b_reps)) if len(b_reps) else None
        note = _why_not_comparable(a, b, current_meta or {}, baseline_meta or {})
        ratio = ci = None
        if note is None and a_med is not None and b_med is not None:
            ratio, ci, note = a_med / b_med, ratio_ci(a_reps, b_reps), ""
        elif note is None:
            note = f"no timing: {_status(a, 'run')}, {_status(b, 'baseline')}"
        rows.append(CellComparison(*key, b_med, a_med, ratio, ci, note))
    return rows


def _status(record: dict[str, Any] | None, side: str) -> str:
    return f"absent from {side}" if record is None else f"{record['status']} in {side}"


def _why_not_comparable(a, b, a_meta, b_meta) -> str | None:
    if a is None or b is None:
        return _status(a, "run") if a is None else _status(b, "baseline")
    if a.get("spec_hash") and b.get("spec_hash") and a["spec_hash"] != b["spec_hash"]:
        return f"incomparable: scenario spec changed ({b['spec_hash']} → {a['spec_hash']})"
    fa, fb = _fingerprint(a, a_meta), _fingerprint(b, b_meta)
    if fa and fb and fa != fb:
        return f"incomparable: different machine ({fb} → {fa})"
    return None


def gate_comparison(current, baseline) -> tuple[list[CellComparison], str, str] | None:
    """``(rows, method, unit)`` from the regression gate's comparison, or None when it is absent.

    ``current`` and ``baseline`` are :class:`bench.report.loading.RunData`; the gate settings
    are those of the run's profile (its defaults when the profile cannot be loaded).
    """
    try:
        from bench.compare import ResultSet, compare
        from bench.profile import GateConfig, ProfileError, load_profile
    except ImportError:
        return None
    try:
        config = load_profile(current.profile_name).gate if current.profile_name else GateConfig()
    except ProfileError:
        config = GateConfig()

    def results(run) -> ResultSet:
        return ResultSet(run.folder, latest_by_cell(run.records), run.meta)

    relative = config.mode == "relative"
    method = (
        f"the regression gate's comparison in {config.mode} mode"
        + (f" (each cell's repetitions divided by {config.reference}'s in the same run)" if relative else "")
        + f": ratio of medians run / baseline with a 95% bootstrap CI and a two-sided Mann-Whitney U p; "
        f"a regression needs p < {config.p_threshold:g} and more than {config.min_effect:.0%} slower"
    )
    rows = [
        CellComparison(*c.key, c.a, c.b, c.ratio, c.ci, c.reason, c.verdict, c.p)
        for c in sorted(compare(results(baseline), results(current), config), key=lambda c: c.key)
    ]
    return rows, method, f"× {config.reference}" if relative else ELEMENTS_PER_S
