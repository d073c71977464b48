"""Charts that need data only some runs carry: scaling curves and the roofline.

What the report reads (the contract for the scenarios and profiling code that write it):

- Scaling: a record's ``scaling`` mapping ``{axis: number}`` (e.g. ``{"chain_depth": 10}``,
  ``{"device_count": 4}``, ``{"batch_size": 256}``); the keys of :data:`SCALING_AXES` found in
  the record's ``params`` count too. A curve is drawn for a scenario and axis when one adapter
  has ok cells at two or more values of it.
- Roofline: ``metrics.arithmetic_intensity`` (FLOP/byte) and ``metrics.flops_per_s`` per cell;
  the ceilings ``peak_flops_per_s`` and ``memory_bytes_per_s`` from run.json's ``ceilings``
  (or ``machine.ceilings``), as probed on the machine that ran.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from bench.report.charts import Absent, Chart, si, slugify, to_png
from bench.report.scoreboard import latest_by_cell, median_ci, repetition_throughputs

SCALING_AXES = ("chain_depth", "device_count", "batch_size")
_AXIS_LABELS = {"chain_depth": "operator chain depth", "device_count": "devices", "batch_size": "batch size"}


def scaling_coordinates(record: dict[str, Any]) -> dict[str, float]:
    coords = {k: v for k, v in (record.get("params") or {}).items() if k in SCALING_AXES}
    coords.update(record.get("scaling") or {})
    return {k: float(v) for k, v in coords.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def scaling_curves(records: list[dict[str, Any]], colors: dict[str, Any]) -> list[Chart] | Absent:
    """Per scenario and axis: elements/s against the axis value, one line per adapter."""
    title = "Scaling curves"
    series: dict[tuple[str, str], dict[str, list[tuple[float, np.ndarray]]]] = {}
    for (scenario, _, adapter), r in latest_by_cell(records).items():
        reps = repetition_throughputs(r)
        if r["status"] != "ok" or not len(reps):
            continue
        for axis, value in scaling_coordinates(r).items():
            series.setdefault((scenario, axis), {}).setdefault(adapter, []).append((value, reps))
    drawable = {
        key: lines for key, lines in series.items()
        if any(len({v for v, _ in points}) >= 2 for points in lines.values())
    }
    if not drawable:
        return Absent(title, "no scenario in this run has ok cells at two or more values of a scaling "
                             f"axis ({', '.join(SCALING_AXES)})")
    charts = []
    for (scenario, axis), lines in sorted(drawable.items()):
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        for adapter, points in sorted(lines.items()):
            points.sort(key=lambda p: p[0])
            x = [v for v, _ in points]
            y = [float(np.median(reps)) for _, reps in points]
            cis = [median_ci(reps) or (m, m) for (_, reps), m in zip(points, y)]
            err = np.array([[m - lo, hi - m] for m, (lo, hi) in zip(y, cis)]).T
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colors[adapter], label=adapter)
        values = sorted({v for points in lines.values() for v, _ in points})
        if values[-1] / max(values[0], 1e-12) >= 8:
            ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
        ax.set_xlabel(_AXIS_LABELS.get(axis, axis))
        ax.set_ylabel("elements/s (median, 95% CI)")
        ax.yaxis.set_major_formatter(FuncFormatter(si))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{scenario}: elements/s vs {_AXIS_LABELS.get(axis, axis)}", fontsize=10)
        charts.append(Chart(
            slugify("scaling", scenario, axis), f"Scaling: {scenario} by {_AXIS_LABELS.get(axis, axis)}",
            "Median elements/s at each value, 95% bootstrap CI.", to_png(fig),
        ))
    return charts


def ceilings(meta: dict[str, Any]) -> dict[str, float]:
    found = meta.get("ceilings") or (meta.get("machine") or {}).get("ceilings") or {}
    return {k: float(found[k]) for k in ("peak_flops_per_s", "memory_bytes_per_s") if found.get(k)}


def roofline(records: list[dict[str, Any]], meta: dict[str, Any], colors: dict[str, Any]) -> Chart | Absent:
    """Log-log roofline: achieved FLOP/s against arithmetic intensity, under the probed ceilings."""
    title = "Roofline"
    points = []
    for (scenario, variant, adapter), r in latest_by_cell(records).items():
        m = r.get("metrics") or {}
        if r["status"] == "ok" and m.get("arithmetic_intensity") and m.get("flops_per_s"):
            points.append((scenario, variant, adapter, float(m["arithmetic_intensity"]), float(m["flops_per_s"])))
    if not points:
        return Absent(title, "no roofline data in this run (no cell recorded metrics.arithmetic_intensity "
                             "and metrics.flops_per_s)")
    limits = ceilings(meta)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs = np.array([p[3] for p in points])
    x = np.logspace(np.log10(xs.min() / 10), np.log10(xs.max() * 10), 200)
    if limits.keys() == {"peak_flops_per_s", "memory_bytes_per_s"}:
        roof = np.minimum(limits["peak_flops_per_s"], limits["memory_bytes_per_s"] * x)
        ax.plot(x, roof, color="black", lw=1.5, label="probed ceiling")
    for adapter in sorted({p[2] for p in points}):
        mine = [p for p in points if p[2] == adapter]
        ax.scatter([p[3] for p in mine], [p[4] for p in mine], color=colors[adapter], label=adapter, zorder=3)
        for p in mine:
            ax.annotate(f"{p[0]}/{p[1]}", (p[3], p[4]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved FLOP/s")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    caption = ("Cells against the machine's probed memory-bandwidth and FLOP/s ceilings."
               if len(limits) == 2 else "Ceilings absent: run.json has no probed peak_flops_per_s and memory_bytes_per_s.")
    return Chart("roofline", title, caption, to_png(fig))
