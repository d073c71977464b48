"""``datarax-bench report``: a run's results as a self-contained HTML page and a Markdown summary.

    run = load_run("results/runs/<run-id>")
    written = write_report(build_report(run, baseline=load_run(...) or None))

Charts are drawn only from data the records hold; a chart that cannot be drawn is listed with
the reason instead.
"""

from bench.report.build import WrittenReport, build_report, write_report
from bench.report.model import Report
from bench.report.loading import RunData, RunNotFound, load_run

__all__ = ["Report", "RunData", "RunNotFound", "WrittenReport", "build_report", "load_run", "write_report"]
