"""Scaling axes read from the scenarios' own variants, and their curves.

A scaling axis is a quantity a run's variants of one scenario vary one at a time: two or more
variants whose coordinates agree on everything else (PC-1's ``depth1``/``small``/``depth50``
differ only in chain depth; CV-1's ``small``/``small-x10`` only in dataset size; DIST-1's
``small-1dev`` … ``small`` only in device count). Coordinates are the variant's record count
and batch size and each of its parameters, a ``mesh`` counted as its number of devices.
Nothing here names a scenario: a new variant that varies one thing makes a new curve.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from bench.records import Record
from bench.report.charts import Chart, si, slugify, to_png
from scenarios import get_scenario

AXIS_LABELS = {"num_records": "dataset size (records)", "batch_size": "batch size", "depth": "operator chain depth",
               "devices": "devices", "processes": "processes"}


def coordinates(scenario_id: str, variant_name: str) -> dict[str, Any]:
    """The variant's coordinates: record count, batch size and parameters (``mesh`` → ``devices``)."""
    variant = get_scenario(scenario_id).variant(variant_name)
    coords: dict[str, Any] = {"num_records": variant.num_records, "batch_size": variant.batch_size}
    for key, value in variant.params:
        if key == "mesh":
            coords["devices"] = math.prod(value)
        else:
            coords[key] = value
    return coords


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def scaling_axes(scenario_id: str, variants: Iterable[str]) -> dict[str, list[list[str]]]:
    """Per axis, the groups of ``variants`` (two or more each, ordered along the axis) that
    differ in that numeric coordinate alone."""
    coords = {v: coordinates(scenario_id, v) for v in dict.fromkeys(variants)}
    axes: dict[str, list[list[str]]] = {}
    keys = sorted({k for c in coords.values() for k in c})
    for axis in keys:
        groups: dict[tuple, list[str]] = {}
        for name, c in coords.items():
            if not _numeric(c.get(axis)):
                continue
            rest = tuple(sorted((k, repr(v)) for k, v in c.items() if k != axis))
            groups.setdefault(rest, []).append(name)
        for members in groups.values():
            if len({coords[m][axis] for m in members}) >= 2:
                axes.setdefault(axis, []).append(sorted(members, key=lambda m: coords[m][axis]))
    return axes


def scaling_charts(records: Iterable[Record], colors: Mapping[str, Any]) -> list[Chart]:
    """One chart per scenario and axis: sustained elements/s of every loader's ok cells along it."""
    ok = [r for r in records if r.ok and r.elements_per_s]
    charts = []
    for scenario in dict.fromkeys(r.scenario for r in ok):
        mine = [r for r in ok if r.scenario == scenario]
        for axis, groups in scaling_axes(scenario, (r.variant for r in mine)).items():
            label = AXIS_LABELS.get(axis, axis)
            for index, group in enumerate(groups):
                fig, ax = plt.subplots(figsize=(6.4, 3.8))
                values = [coordinates(scenario, v)[axis] for v in group]
                for adapter in dict.fromkeys(r.adapter for r in mine):
                    points = [(coordinates(scenario, r.variant)[axis], r.elements_per_s)
                              for r in mine if r.adapter == adapter and r.variant in group]
                    if len(points) >= 2:
                        points.sort()
                        ax.plot([x for x, _ in points], [y for _, y in points], marker="o",
                                color=colors[adapter], label=adapter)
                if not ax.lines:  # no loader has two points on this axis
                    plt.close(fig)
                    continue
                if values[-1] / max(values[0], 1e-12) >= 8:
                    ax.set_xscale("log")
                ax.set_xticks(values, [f"{v:g}" for v in values])
                ax.minorticks_off()
                ax.set_xlabel(f"{label} ({', '.join(group)})")
                ax.set_ylabel("sustained elements/s")
                ax.yaxis.set_major_formatter(FuncFormatter(si))
                ax.grid(alpha=0.3)
                ax.legend(fontsize=8)
                ax.set_title(f"{scenario}: elements/s vs {label}", fontsize=10)
                suffix = () if len(groups) == 1 else (str(index + 1),)
                charts.append(Chart(slugify("scaling", scenario, axis, *suffix), f"Scaling: {scenario} by {label}",
                                    f"Sustained elements/s of variants {', '.join(group)}.", to_png(fig)))
    return charts
