"""Assembling a report from a run (and optionally a baseline), and writing it to the run folder."""

from __future__ import annotations

import dataclasses
import datetime
import os
import tempfile
from pathlib import Path

from bench.report import charts as core
from bench.report import profiling_charts as profiling
from bench.report.charts import Absent, Chart
from bench.report.comparison import CellComparison
from bench.report.loading import RunData
from bench.report.model import Report
from bench.report.scoreboard import not_ok, scoreboard

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"
CHARTS_DIR = "charts"


@dataclasses.dataclass(frozen=True)
class WrittenReport:
    html: Path
    markdown: Path
    charts: tuple[Path, ...]


def _compare(run: RunData, baseline: RunData) -> tuple[list[CellComparison], str, str]:
    from bench.report.comparison import ELEMENTS_PER_S, METHOD, compare_runs, gate_comparison

    gated = gate_comparison(run, baseline)
    if gated is not None:
        return gated
    rows = compare_runs(list(run.records), list(baseline.records), run.meta, baseline.meta)
    return rows, METHOD + " (the regression gate's module bench.compare is not installed)", ELEMENTS_PER_S


def build_report(run: RunData, baseline: RunData | None = None) -> Report:
    records = list(run.records)
    scores = scoreboard(records)
    colors = core.palette(r["adapter"] for r in [*records, *(baseline.records if baseline else ())])
    drawn: list[Chart] = []
    absent: list[Absent] = []

    def add(result):
        if isinstance(result, Absent):
            absent.append(result)
        elif isinstance(result, Chart):
            drawn.append(result)
        else:
            drawn.extend(result)

    add(core.throughput_bars(scores, colors))
    add(core.latency_cdfs(records, colors))
    add(core.memory_scatter(records, scores, colors))
    add(profiling.scaling_curves(records, colors))
    add(profiling.roofline(records, run.meta, colors))
    comparison, method, unit = [], "", ""
    if baseline is not None:
        comparison, method, unit = _compare(run, baseline)
        add(core.baseline_ratios(comparison))
    return Report(
        run=run, scores=tuple(scores), failures=tuple(not_ok(records)), charts=tuple(drawn),
        absent=tuple(absent), generated_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        baseline=baseline, comparison=tuple(comparison), comparison_method=method, comparison_unit=unit,
    )


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(report: Report, folder: Path | None = None) -> WrittenReport:
    """Writes report.html (self-contained), report.md and charts/*.png into ``folder``.

    ``folder`` defaults to the run folder. Each file is written via a temporary file and a
    rename, so a reader never sees half a report.
    """
    from bench.report.html import render_html
    from bench.report.markdown import render_markdown

    folder = Path(folder or report.run.folder)
    (folder / CHARTS_DIR).mkdir(parents=True, exist_ok=True)
    chart_paths = []
    for chart in report.charts:
        path = folder / CHARTS_DIR / f"{chart.slug}.png"
        _write_atomic(path, chart.png)
        chart_paths.append(path)
    html_path, md_path = folder / HTML_NAME, folder / MARKDOWN_NAME
    _write_atomic(html_path, render_html(report).encode())
    _write_atomic(md_path, render_markdown(report, charts_dir=CHARTS_DIR).encode())
    return WrittenReport(html_path, md_path, tuple(chart_paths))
