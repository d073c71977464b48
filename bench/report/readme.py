"""The README's results section, generated from a stored run (never typed by hand).

``results_section(run)`` renders one table — rows are the run's cells, columns its adapters,
each entry the sustained elements/s — followed by datarax's time to first batch and peak RSS,
the fastest peer configuration and datarax's ratios to it and to Grain; ``replace_section`` swaps it in between the
README's ``<!-- results:start -->`` / ``<!-- results:end -->`` markers.
"""

from __future__ import annotations

import collections
from typing import Any

from bench.report.loading import RunData

START, END = "<!-- results:start -->", "<!-- results:end -->"
ENGINE, GRAIN = "datarax", "grain"


class MarkersMissing(ValueError):
    """The target file lacks the results markers."""


def _rate(record: dict[str, Any] | None) -> float | None:
    if record is None or record.get("status") != "ok":
        return None
    return float(record["metrics"]["elements_per_s"])


def _entry(record: dict[str, Any] | None) -> str:
    if record is None:
        return "—"
    if record.get("status") != "ok":
        return record.get("status", "?").split(":")[0]
    return f"{record['metrics']['elements_per_s']:,.0f}"


def _ratio(mine: float | None, other: float | None) -> str:
    return f"{mine / other:.2f}×" if mine and other else "—"


def results_section(run: RunData, command: str) -> str:
    cells: dict[tuple[str, str], dict[str, dict]] = collections.defaultdict(dict)
    adapters: list[str] = []
    for record in run.records:
        cells[(record["scenario"], record["variant"])][record["adapter"]] = record
        if record["adapter"] not in adapters:
            adapters.append(record["adapter"])
    machine = run.machine or (run.records[0].get("machine", {}) if run.records else {})
    commit = str(run.meta.get("git_commit") or run.records[0].get("git_commit", "unknown"))
    started = run.meta.get("started_at") or run.records[0].get("started_at", "unknown")
    header = ["scenario", "variant", *adapters, f"{ENGINE} TTFB", f"{ENGINE} peak RSS",
              "best peer", f"{ENGINE} / best peer", f"{ENGINE} / {GRAIN}"]
    lines = [
        START,
        f"Measured by `{command}` (run `{run.name}`, started {started}, commit `{commit[:12]}`) on "
        f"{machine.get('cpu_model', 'an unknown CPU')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('ram_bytes', 0) / 2**30:.0f} GiB, {machine.get('os', '')}. Sustained elements/s: "
        "every timed batch over the time of every window; the best peer excludes the NumPy baseline; `unsupported` cells say why in "
        "the run's report.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    for (scenario, variant), by_adapter in cells.items():
        engine = by_adapter.get(ENGINE)
        mine = _rate(engine)
        peers = {a: r for a, rec in by_adapter.items() if a not in (ENGINE, "numpy") and (r := _rate(rec))}
        best = max(peers, key=peers.get) if peers else None
        ok = engine is not None and engine.get("status") == "ok"
        metrics = engine["metrics"] if ok else {}
        row = [scenario, variant, *[_entry(by_adapter.get(a)) for a in adapters],
               f"{metrics['ttfb_s']:.2f} s" if ok else "—",
               f"{metrics['peak_rss_bytes'] / 2**20:,.0f} MiB" if ok and metrics.get("peak_rss_bytes") else "—",
               best or "—", _ratio(mine, peers.get(best)), _ratio(mine, _rate(by_adapter.get(GRAIN)))]
        lines.append("| " + " | ".join(row) + " |")
    lines.append(END)
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    """``text`` with everything between the markers (inclusive) replaced by ``section``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise MarkersMissing(f"no {START} … {END} markers to replace")
    return text[:start] + section + text[end + len(END):]
