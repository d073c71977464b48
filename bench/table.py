"""Human-readable tables of result records."""

from __future__ import annotations

from typing import Any, Iterable

from rich.table import Table


def _fmt(value: float | None, unit: str = "", scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * scale:,.{digits}f}{unit}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f} s" if value >= 1 else f"{value * 1e3:,.1f} ms"


def _clip(text: str, limit: int = 90) -> str:
    """A failure reason short enough for a table cell (the record keeps it whole)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def results_table(records: Iterable[dict[str, Any]], title: str = "") -> Table:
    table = Table(title=title or None, show_lines=False)
    for column, justify in [
        ("scenario", "left"), ("variant", "left"), ("adapter", "left"), ("status", "left"),
        ("elements/s", "right"), ("TTFB", "right"), ("p50 batch", "right"),
        ("p95 batch", "right"), ("p99 batch", "right"), ("peak RSS", "right"), ("CPU/element", "right"),
    ]:
        table.add_column(column, justify=justify)
    for r in records:
        m = r.get("metrics") or {}
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {_clip(r.get('reason') or '')}"
        table.add_row(
            r["scenario"], r["variant"], r["adapter"], status,
            _fmt(m.get("elements_per_s"), digits=0),
            _seconds(m.get("ttfb_s")),
            _fmt(m.get("latency_p50_s"), " ms", 1e3, 2),
            _fmt(m.get("latency_p95_s"), " ms", 1e3, 2),
            _fmt(m.get("latency_p99_s"), " ms", 1e3, 2),
            _fmt(m.get("peak_rss_bytes"), " MiB", 2**-20, 0),
            _fmt(m.get("cpu_s_per_element"), " µs", 1e6, 1),
        )
    return table
