"""What a report holds: the run, its scores, charts and optional comparison, before rendering."""

from __future__ import annotations

import dataclasses

from bench.report.charts import Absent, Chart
from bench.report.comparison import CellComparison
from bench.report.loading import RunData
from bench.report.scoreboard import Score


@dataclasses.dataclass(frozen=True)
class Report:
    run: RunData
    scores: tuple[Score, ...]
    failures: tuple[dict, ...]
    charts: tuple[Chart, ...]
    absent: tuple[Absent, ...]
    generated_at: str
    baseline: RunData | None = None
    comparison: tuple[CellComparison, ...] = ()
    comparison_method: str = ""
    comparison_unit: str = ""  # what the baseline/run columns hold: elements/s, or × a reference adapter
