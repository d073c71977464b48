"""The regression gate: fail only on a confirmed regression, and never pass silently.

Outcomes and exit codes: ``pass`` (0); ``regression`` (1): a target cell's p is below the
threshold *and* its time per element grew beyond the effect floor, in the run and in each of
``confirm_runs`` fresh re-runs of that cell (:func:`confirm`), or a target cell that ran in
the baseline fails now; ``undecided`` (3): a target cell has no comparable baseline,
no reference, too few samples to reach the threshold, or a re-run that could not judge it.
Undecided is an error unless ``allow_missing``, in which case it is reported and passes. An
error inside the gate itself exits 2 with its message (the CLI), never 1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bench.store import write_text_atomic
from bench.compare import (
    FAILED, IMPROVEMENT, INCOMPARABLE, NO_CHANGE, REGRESSION, UNRELIABLE, CellKey, Comparison, ResultSet,
    compare, load_results, markdown_table,
)
from bench.profile import GateConfig, ProfileError, load_profile
from bench.store import write_json_atomic

EXIT_PASS, EXIT_REGRESSION, EXIT_UNDECIDED = 0, 1, 3
MARKER = "<!-- datarax-bench-gate -->"


def gate_config(run: ResultSet, **overrides: Any) -> GateConfig:
    """The run's profile's ``[gate]`` settings (from run.json, else the shipped profile), overridden."""
    stored = (run.meta.get("profile") or {}).get("gate")
    if stored:
        config = GateConfig(**{**stored, "targets": tuple(stored["targets"])})
    else:
        try:
            config = load_profile(run.profile_name).gate if run.profile_name else GateConfig()
        except ProfileError:
            config = GateConfig()
    kept = {k: v for k, v in overrides.items() if v is not None}
    if "targets" in kept:
        kept["targets"] = tuple(kept["targets"])
    if kept.get("confirm_runs", 0) < 0:
        raise ProfileError(f"confirm runs must be >= 0, got {kept['confirm_runs']}")
    config = dataclasses.replace(config, **kept)
    if config.reference in config.targets:
        raise ProfileError(f"reference adapter {config.reference!r} cannot also be a target ({', '.join(config.targets)})")
    return config


@dataclasses.dataclass(frozen=True)
class GateReport:
    run: ResultSet
    baseline: ResultSet | None
    config: GateConfig
    comparisons: tuple[Comparison, ...]
    allow_missing: bool = False
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict in (REGRESSION, FAILED)]

    @property
    def undecided(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict in (INCOMPARABLE, UNRELIABLE)]

    @property
    def outcome(self) -> str:
        if self.failures:
            return "regression"
        return "undecided" if self.undecided or not self.comparisons else "pass"

    @property
    def exit_code(self) -> int:
        if self.outcome == "regression":
            return EXIT_REGRESSION
        return EXIT_UNDECIDED if self.outcome == "undecided" and not self.allow_missing else EXIT_PASS

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "config": dataclasses.asdict(self.config),
            "run": {"path": str(self.run.path), "id": self.run.label, "commit": self.run.commit},
            "baseline": None if self.baseline is None else {
                "path": str(self.baseline.path), "id": self.baseline.label, "commit": self.baseline.commit},
            "allow_missing": self.allow_missing,
            "notes": list(self.notes),
            "cells": [c.to_json() for c in self.comparisons],
        }


def run_gate(
    run: ResultSet, baseline: ResultSet | None, config: GateConfig, *, allow_missing: bool = False,
    notes: tuple[str, ...] = (),
) -> GateReport:
    """Gates ``run``'s target cells; ``baseline`` None (none found) is undecided, like a missing cell."""
    comparisons = [] if baseline is None else compare(baseline, run, config, adapters=config.targets)
    notes = list(notes) + list(run.problems) + list(baseline.problems if baseline else [])
    if baseline is not None and not comparisons:
        notes.append(f"no cell of the target adapter(s) {', '.join(config.targets)} in the run or the baseline")
    return GateReport(run, baseline, config, tuple(comparisons), allow_missing, tuple(notes))


def confirm(report: GateReport, output_root: Path, runs: int | None = None) -> GateReport:
    """Re-runs each suspected regression's cell (and its reference) ``runs`` times.

    A regression stands only if every re-run flags it too; a re-run that could not judge the
    cell (it failed, or its reference did) makes the cell unreliable, hence the gate
    undecided, never a pass; otherwise the cell becomes "no change" with a reason naming the
    re-runs. Re-runs use the run's stored profile and land in ``output_root``.
    """
    from bench.profile import CellSelection, profile_from_dict
    from bench.runner import run_profile

    runs = report.config.confirm_runs if runs is None else runs
    suspects = [c for c in report.comparisons if c.verdict == REGRESSION]
    if not suspects or runs == 0 or "profile" not in report.run.meta:
        return report
    c = report.config
    adapters = tuple(dict.fromkeys(s.key[2] for s in suspects))
    profile = profile_from_dict(report.run.meta["profile"], str(report.run.path)).with_overrides(
        adapters=adapters + ((c.reference,) if c.mode == "relative" else ()),
        cells=tuple(CellSelection(s, (v,)) for s, v in dict.fromkeys(s.key[:2] for s in suspects)),
    )
    reruns = [load_results(run_profile(profile, output_root)) for _ in range(runs)]
    flagged = {s.key: [] for s in suspects}
    unjudged: dict[CellKey, list[str]] = {s.key: [] for s in suspects}
    for rerun in reruns:
        judged = {again.key: again for again in compare(report.baseline, rerun, c, adapters=adapters)}
        for key in flagged:
            again = judged.get(key)
            if again is not None and again.verdict == REGRESSION:
                flagged[key].append(rerun.label)
            elif again is None or again.verdict not in (NO_CHANGE, IMPROVEMENT):
                unjudged[key].append(f"{rerun.label}: " + (again.reason if again else "the cell is missing"))
    names = ", ".join(r.label for r in reruns)
    comparisons = []
    for cmp in report.comparisons:
        if cmp.key in unjudged and unjudged[cmp.key]:
            cmp = dataclasses.replace(cmp, verdict=UNRELIABLE, reason="flagged, then a re-run could not judge it: "
                                      + "; ".join(unjudged[cmp.key]))
        elif cmp.key in flagged:
            hits = len(flagged[cmp.key])
            cmp = (dataclasses.replace(cmp, reason=f"confirmed by {hits} re-run(s)") if hits == runs else
                   dataclasses.replace(cmp, verdict=NO_CHANGE,
                                       reason=f"flagged, then not reproduced: {hits} of {runs} re-run(s) agreed"))
        comparisons.append(cmp)
    note = f"suspected regressions re-measured in {runs} fresh run(s): {names} (under {output_root})"
    return dataclasses.replace(report, comparisons=tuple(comparisons), notes=report.notes + (note,))


_HEADLINES = {
    "pass": "✅ pass: no confirmed regression",
    "regression": "❌ regression",
    "undecided": "⚠️ undecided: some target cells could not be compared",
}


def render_markdown(report: GateReport) -> str:
    c = report.config
    how = (f"each target cell ÷ `{c.reference}` of the same run" if c.mode == "relative"
           else "raw elements/s, same machine only")
    headline = _HEADLINES[report.outcome]
    if report.outcome == "undecided":
        headline += " (allowed by --allow-missing)" if report.allow_missing else " (an error: exit 3)"
    lines = [
        MARKER,
        f"## datarax-bench gate: {headline}",
        "",
        f"- mode: **{c.mode}** ({how}); targets: {', '.join(f'`{t}`' for t in c.targets)}",
        f"- a regression needs Mann-Whitney p < {c.p_threshold:g} **and** time per element "
        f"up by more than {c.min_effect:.0%}"
        + (f", in the run and in each of {c.confirm_runs} fresh re-run(s) of that cell" if c.confirm_runs else ""),
        f"- run `{report.run.label}` at commit `{report.run.commit}`",
        "- **no baseline**" if report.baseline is None else
        f"- baseline `{report.baseline.path.name}` from run `{report.baseline.label}` at commit "
        f"`{report.baseline.commit}`",
        "",
        "A = baseline, B = this run; values are medians over repetitions; B/A > 1 is faster.",
        "",
        markdown_table(report.comparisons, c.mode) if report.comparisons else "_no target cells_",
    ]
    if report.notes:
        lines += ["", "Notes:", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


def write_verdict(report: GateReport, markdown_path: Path, json_path: Path | None = None) -> None:
    write_text_atomic(markdown_path, render_markdown(report))
    if json_path is not None:
        write_json_atomic(json_path, report.to_json())
