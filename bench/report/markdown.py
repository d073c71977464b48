"""The report as Markdown: the same tables as the HTML page, charts linked as PNG files.

Fits a pull-request comment or a W&B summary; GitHub renders the tables.
"""

from __future__ import annotations

from bench.report import tables
from bench.report.model import Report
from bench.report.tables import Table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> str:
    align = ["---:" if i in table.numeric else "---" for i in range(len(table.header))]
    lines = ["| " + " | ".join(map(_cell, table.header)) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(report: Report, charts_dir: str = "charts") -> str:
    run = report.run
    out = [
        f"# datarax-bench report: {run.name}",
        "",
        f"Profile `{run.profile_name or 'unknown'}`, {len(run.records)} cells, commit "
        f"`{str(run.meta.get('git_commit', 'unknown'))[:12]}`, generated {report.generated_at}.",
        "",
        "## Scoreboard",
        "",
        "Median elements/s over the repetitions and the ratio to the fastest adapter of the same "
        "scenario and variant; intervals are 95% percentile bootstraps of the repetitions.",
        "",
        _table(tables.scoreboard_table(list(report.scores))) if report.scores
        else "No cell finished with status ok: nothing to rank.",
        "",
        "## Charts",
        "",
    ]
    out += [f"![{c.title}]({charts_dir}/{c.slug}.png)" for c in report.charts]
    if report.absent:
        out += ["", "Not drawn:", ""] + [f"- **{a.title}**: {a.reason}" for a in report.absent]
    if report.baseline is not None:
        out += ["", f"## Against baseline {report.baseline.name}", "", f"Method: {report.comparison_method}.", "",
                _table(tables.comparison_table(list(report.comparison), report.comparison_unit))]
    out += ["", "## Failures and unsupported cells", ""]
    out.append(_table(tables.failures_table(list(report.failures))) if report.failures
               else "Every cell of this run finished with status ok.")
    out += ["", "## Machine and run", "", _table(tables.machine_table(run.meta))]
    if run.problems:
        out += ["", "## Unreadable result lines", ""] + [f"- {p}" for p in run.problems]
    return "\n".join(out) + "\n"
