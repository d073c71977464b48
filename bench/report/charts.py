"""The report's core charts, drawn with matplotlib (Agg) into PNG bytes.

Every chart is drawn only from what the records hold; when the data for one is missing the
function returns an :class:`Absent` naming the reason, which the page prints in its place.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from bench.report.comparison import CellComparison  # noqa: E402
from bench.report.scoreboard import Score, latest_by_cell  # noqa: E402

DPI = 110
PANELS_PER_ROW = 3


@dataclasses.dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    caption: str
    png: bytes
    wide: bool = False  # several panels side by side: the page gives it a full row


@dataclasses.dataclass(frozen=True)
class Absent:
    title: str
    reason: str


def palette(adapters: Iterable[str]) -> dict[str, Any]:
    """A stable colour per adapter, the same in every chart of a report."""
    cmap = plt.get_cmap("tab10")
    return {name: cmap(i % 10) for i, name in enumerate(sorted(set(adapters)))}


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def si(value: float, _pos=None) -> str:
    """12_500 -> '12.5k': short axis labels that do not collide."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def slugify(*parts: str) -> str:
    return "-".join("".join(c if c.isalnum() else "_" for c in p.lower()) for p in parts)


def throughput_bars(scores: list[Score], colors: dict[str, Any]) -> list[Chart] | Absent:
    """Per scenario: one panel per variant, adapters as bars (median elements/s, 95% CI)."""
    title = "Throughput"
    if not scores:
        return Absent(title, "no cell finished with status ok, so there is no throughput to draw")
    charts = []
    for scenario in sorted({s.scenario for s in scores}):
        mine = [s for s in scores if s.scenario == scenario]
        variants = list(dict.fromkeys(s.variant for s in mine))
        bars = max(sum(s.variant == v for s in mine) for v in variants)
        cols = min(len(variants), PANELS_PER_ROW)
        rows = -(-len(variants) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols + 1, (0.45 * bars + 1.6) * rows), squeeze=False)
        for ax in axes.flat[len(variants):]:
            ax.set_visible(False)
        for ax, variant in zip(axes.flat, variants):
            cells = [s for s in mine if s.variant == variant][::-1]
            y = np.arange(len(cells))
            values = np.array([s.elements_per_s for s in cells])
            err = np.array([[s.elements_per_s - s.ci[0], s.ci[1] - s.elements_per_s] if s.ci else [0, 0] for s in cells]).T
            ax.barh(y, values, xerr=err, color=[colors[s.adapter] for s in cells], capsize=3)
            ax.set_yticks(y, [s.adapter for s in cells])
            ends = [s.ci[1] if s.ci else s.elements_per_s for s in cells]
            for yi, s, end in zip(y, cells, ends):
                ax.text(end, yi, f"  {s.elements_per_s:,.0f}", va="center", fontsize=8)
            ax.set_xlim(0, max(ends) * 1.3)
            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.xaxis.set_major_formatter(FuncFormatter(si))
            ax.set_title(f"{scenario} / {variant}", fontsize=10)
            ax.set_xlabel("elements/s (median, 95% CI)")
        charts.append(Chart(
            slugify("throughput", scenario), f"Throughput: {scenario}",
            "Median elements/s over the repetitions; whiskers are the 95% bootstrap CI.", to_png(fig),
            wide=cols > 1,
        ))
    return charts


def latency_cdfs(records: list[dict[str, Any]], colors: dict[str, Any]) -> list[Chart] | Absent:
    """Per (scenario, variant): the distribution of every timed batch's latency, one line per adapter."""
    title = "Batch latency CDFs"
    groups: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}
    for (scenario, variant, adapter), r in latest_by_cell(records).items():
        reps = (r.get("samples") or {}).get("batch_latency_s") or []
        values = np.concatenate([np.asarray(rep, dtype=float) for rep in reps]) if reps else np.empty(0)
        if r["status"] == "ok" and values.size:
            groups.setdefault((scenario, variant), []).append((adapter, np.sort(values)))
    if not groups:
        return Absent(title, "no ok cell kept per-batch latency samples (samples.batch_latency_s)")
    charts = []
    for (scenario, variant), lines in groups.items():
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for adapter, values in lines:
            ms = values * 1e3
            label = f"{adapter} (p50 {np.median(ms):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms)"
            ax.step(ms, np.arange(1, len(ms) + 1) / len(ms), where="post", color=colors[adapter], label=label)
        lo = min(v[0] for _, v in lines)
        if lo > 0 and max(v[-1] for _, v in lines) / lo > 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(si))
        ax.set_xlabel("batch latency (ms): next() including production")
        ax.set_ylabel("fraction of batches")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"{scenario} / {variant}", fontsize=10)
        charts.append(Chart(
            slugify("latency", scenario, variant), f"Latency CDF: {scenario} / {variant}",
            "Every timed batch of every repetition, pooled; further left is faster.", to_png(fig),
        ))
    return charts


def memory_scatter(records: list[dict[str, Any]], scores: list[Score], colors: dict[str, Any]) -> Chart | Absent:
    """Peak RSS of the cell's process tree against its throughput, one point per ok cell."""
    title = "Peak RSS vs throughput"
    by_cell = latest_by_cell(records)
    points = [
        (s, by_cell[(s.scenario, s.variant, s.adapter)]["metrics"].get("peak_rss_bytes")) for s in scores
    ]
    points = [(s, rss) for s, rss in points if rss]
    if not points:
        return Absent(title, "no ok cell recorded metrics.peak_rss_bytes")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for adapter in sorted({s.adapter for s, _ in points}):
        mine = [(s, rss) for s, rss in points if s.adapter == adapter]
        ax.scatter([rss / 2**20 for _, rss in mine], [s.elements_per_s for s, _ in mine],
                   color=colors[adapter], label=adapter, s=40, zorder=3)
        for s, rss in mine:
            ax.annotate(f"{s.scenario}/{s.variant}", (rss / 2**20, s.elements_per_s), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    for axis, values in (("x", [rss / 2**20 for _, rss in points]), ("y", [s.elements_per_s for s, _ in points])):
        if max(values) / min(values) > 30:
            getattr(ax, f"set_{axis}scale")("log")
        else:
            getattr(ax, f"set_{axis}lim")(0, max(values) * 1.25)
    ax.set_xlabel("peak RSS of the cell's process tree (MiB)")
    ax.set_ylabel("elements/s (median)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return Chart("memory", title, "Up and to the left is better: more elements/s for less memory.", to_png(fig))


def baseline_ratios(rows: list[CellComparison]) -> Chart | Absent:
    """Current / baseline median throughput per comparable cell, with its CI."""
    title = "Throughput vs baseline"
    rows = [r for r in rows if r.ratio is not None]
    if not rows:
        return Absent(title, "no cell has ok timings in both the run and the baseline")
    fig, ax = plt.subplots(figsize=(6.4, 0.4 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    err = np.array([[r.ratio - r.ci[0], r.ci[1] - r.ratio] if r.ci else [0, 0] for r in rows]).T
    ax.barh(y, [r.ratio - 1 for r in rows], left=1, xerr=err, capsize=3,
            color=["tab:green" if r.ratio >= 1 else "tab:red" for r in rows])
    ax.set_yticks(y, [f"{r.scenario}/{r.variant}/{r.adapter}" for r in rows], fontsize=8)
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xlabel("current / baseline elements/s (> 1 is faster)")
    return Chart("baseline", title, "Ratio of medians with 95% bootstrap CI.", to_png(fig))
