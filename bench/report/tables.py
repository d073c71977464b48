"""The report's tables as plain strings, shared by the HTML and Markdown renderers."""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.report.comparison import CellComparison
from bench.report.scoreboard import Score, latest_by_cell


@dataclasses.dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()  # column indexes to right-align


def _num(value: float | None, digits: int = 0, scale: float = 1.0, unit: str = "") -> str:
    return "—" if value is None else f"{value * scale:,.{digits}f}{unit}"


def _ci(ci: tuple[float, float] | None, digits: int = 0) -> str:
    return "—" if ci is None else f"{ci[0]:,.{digits}f} – {ci[1]:,.{digits}f}"


def scoreboard_table(scores: list[Score]) -> Table:
    rows = tuple(
        (s.scenario, s.variant, s.adapter, _num(s.elements_per_s), _ci(s.ci),
         "best" if s.is_best else f"{s.relative:.2f}×", _ci(s.relative_ci, 2), str(s.repetitions))
        for s in scores
    )
    header = ("scenario", "variant", "adapter", "elements/s", "95% CI", "vs best", "95% CI", "samples")
    return Table(header, rows, frozenset({3, 4, 5, 6, 7}))


def details_table(records: list[dict[str, Any]]) -> Table:
    rows = []
    for (scenario, variant, adapter), r in latest_by_cell(records).items():
        if r["status"] != "ok":
            continue
        m = r.get("metrics") or {}
        rows.append((
            scenario, variant, adapter, str(r.get("adapter_version") or "—"),
            _num(m.get("ttfb_s"), 2, unit=" s"), _num(m.get("latency_p50_s"), 2, 1e3, " ms"),
            _num(m.get("latency_p95_s"), 2, 1e3, " ms"), _num(m.get("latency_p99_s"), 2, 1e3, " ms"),
            _num(m.get("bytes_per_s"), 1, 2**-20, " MiB/s"), _num(m.get("peak_rss_bytes"), 0, 2**-20, " MiB"),
            _num(m.get("cpu_s_per_element"), 1, 1e6, " µs"),
        ))
    header = ("scenario", "variant", "adapter", "version", "TTFB", "p50 batch", "p95 batch", "p99 batch",
              "bytes/s", "peak RSS", "CPU/element")
    return Table(header, tuple(rows), frozenset(range(4, 11)))


def failures_table(failures: list[dict[str, Any]]) -> Table:
    rows = tuple(
        (r["scenario"], r["variant"], r["adapter"], r["status"], str(r.get("reason") or "no reason recorded"))
        for r in failures
    )
    return Table(("scenario", "variant", "adapter", "status", "reason"), rows)


def comparison_table(rows: list[CellComparison], unit: str = "elements/s") -> Table:
    digits = 0 if unit == "elements/s" else 3
    gated = any(c.verdict for c in rows)
    out = []
    for c in rows:
        row = (c.scenario, c.variant, c.adapter, _num(c.baseline, digits), _num(c.current, digits),
               "—" if c.ratio is None else f"{c.ratio:.3f}×", _ci(c.ci, 3))
        if gated:
            row += ("—" if c.p is None else f"{c.p:.2g}", c.verdict)
        out.append(row + (c.note or "",))
    header = ("scenario", "variant", "adapter", f"baseline ({unit})", f"run ({unit})", "run / baseline", "95% CI")
    header += ("p", "verdict", "note") if gated else ("note",)
    return Table(header, tuple(out), frozenset({3, 4, 5, 6, 7} if gated else {3, 4, 5, 6}))


def machine_table(meta: dict[str, Any]) -> Table:
    facts: list[tuple[str, str]] = []
    machine = meta.get("machine") or {}
    for key, value in machine.items():
        if key == "ram_bytes" and isinstance(value, (int, float)):
            value = f"{value / 2**30:.1f} GiB"
        if not isinstance(value, (dict, list)):
            facts.append((key.replace("_", " "), str(value)))
    for key, value in (meta.get("ceilings") or machine.get("ceilings") or {}).items():
        facts.append((f"ceiling: {key.replace('_', ' ')}", f"{value:,.4g}" if isinstance(value, float) else str(value)))
    for name, version in (meta.get("versions") or {}).items():
        facts.append((f"{name} version", str(version)))
    profile = meta.get("profile")
    if isinstance(profile, dict):
        for key in ("name", "backend", "cpu_budget", "warmup_batches", "batches", "repetitions", "timeout_s", "seed"):
            if key in profile:
                facts.append((f"profile {key.replace('_', ' ')}", str(profile[key])))
    for key in ("git_commit", "started_at", "run_id"):
        if meta.get(key):
            facts.append((key.replace("_", " "), str(meta[key])))
    return Table(("fact", "value"), tuple(facts))
