"""The report as one self-contained HTML page: inline CSS, charts as base64 PNG, no scripts.

The page opens offline and can be attached to an issue or mailed as a single file.
"""

from __future__ import annotations

import base64
from html import escape

from bench.report import tables
from bench.report.model import Report
from bench.report.tables import Table

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.sub{color:#5b6577;margin:0 0 16px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0 12px;box-shadow:0 1px 2px #0001}
th,td{padding:5px 10px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{font-weight:600}
.bar{display:inline-block;height:10px;background:#4c78a8;border-radius:2px;vertical-align:middle;margin-right:6px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:16px}
figure{margin:0;background:#fff;padding:10px;box-shadow:0 1px 2px #0001}
figure img{width:100%;height:auto;display:block}figure.wide{grid-column:1/-1}figure.wide img{width:auto;max-width:100%}figcaption{color:#5b6577;font-size:12px;margin-top:6px}
.absent li{color:#5b6577}.note{color:#5b6577;font-size:13px}
.status-failed,.status-timeout,.status-non-conformant{color:#b42318}.status-unsupported,.status-unavailable{color:#8a6d00}
"""


def _table(table: Table, row_class=lambda row: "") -> str:
    def cell(tag: str, i: int, text: str, extra: str = "") -> str:
        cls = "num" if i in table.numeric else ""
        return f'<{tag} class="{cls}{extra}">{escape(text)}</{tag}>'

    head = "".join(cell("th", i, h) for i, h in enumerate(table.header))
    body = "".join(
        f'<tr class="{row_class(row)}">' + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _scoreboard(report: Report) -> str:
    if not report.scores:
        return '<p class="note">No cell finished with status ok: nothing to rank.</p>'
    t = tables.scoreboard_table(list(report.scores))
    head = "".join(f'<th class="{"num" if i in t.numeric else ""}">{escape(h)}</th>' for i, h in enumerate(t.header))
    bar_column, rows = t.header.index("vs best"), []
    for score, row in zip(report.scores, t.rows):
        cells = []
        for i, value in enumerate(row):
            text = escape(value)
            if i == bar_column:
                text = f'<span class="bar" style="width:{max(2, round(80 * score.relative))}px"></span>{text}'
            cells.append(f'<td class="{"num" if i in t.numeric else ""}">{text}</td>')
        rows.append(f'<tr class="{"best" if score.is_best else ""}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure(chart) -> str:
    css_class = ' class="wide"' if chart.wide else ""
    return (
        f'<figure id="chart-{escape(chart.slug)}"{css_class}><img alt="{escape(chart.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(chart.png).decode()}">'
        f"<figcaption><b>{escape(chart.title)}.</b> {escape(chart.caption)}</figcaption></figure>"
    )


def _charts(report: Report) -> str:
    figures = "".join(_figure(c) for c in report.charts)
    absent = "".join(f"<li><b>{escape(a.title)}</b>: {escape(a.reason)}</li>" for a in report.absent)
    out = f'<div class="charts">{figures}</div>'
    if absent:
        out += f'<h3>Charts not drawn</h3><ul class="absent">{absent}</ul>'
    return out


def _comparison(report: Report) -> str:
    if report.baseline is None:
        return ""
    return (
        f"<h2>Against baseline {escape(report.baseline.name)}</h2>"
        f'<p class="note">Method: {escape(report.comparison_method)}.</p>'
        + _table(tables.comparison_table(list(report.comparison), report.comparison_unit))
    )


def _failures(report: Report) -> str:
    if not report.failures:
        return '<p class="note">Every cell of this run finished with status ok.</p>'
    return _table(tables.failures_table(list(report.failures)), row_class=lambda row: f"status-{row[3]}")


def render_html(report: Report) -> str:
    run = report.run
    problems = "".join(f"<li>{escape(p)}</li>" for p in run.problems)
    subtitle = (
        f"profile {escape(str(run.profile_name or 'unknown'))} · {len(run.records)} cells · "
        f"commit {escape(str(run.meta.get('git_commit', 'unknown'))[:12])} · generated {escape(report.generated_at)}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>datarax-bench report: {escape(run.name)}</title><style>{_CSS}</style></head>
<body><main>
<h1>datarax-bench report: {escape(run.name)}</h1>
<p class="sub">{subtitle}</p>
<h2>Scoreboard</h2>
<p class="note">Per scenario and variant, each adapter's median elements/s over its repetitions,
and its ratio to the fastest adapter; intervals are 95% percentile bootstraps of the repetitions.</p>
{_scoreboard(report)}
<h2>Charts</h2>
{_charts(report)}
{_comparison(report)}
<h2>Failures and unsupported cells</h2>
{_failures(report)}
<h2>All ok cells</h2>
{_table(tables.details_table(list(run.records)))}
<h2>Machine and run</h2>
{_table(tables.machine_table(run.meta))}
{f'<h2>Unreadable result lines</h2><ul>{problems}</ul>' if problems else ''}
</main></body></html>
"""
