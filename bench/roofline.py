"""Where a cell sits against the machine's probed ceilings (``bench.probe``).

Bytes moved per element are measured from the actual arrays: the input bytes a record
occupies in the job's stored fields (read once) plus the output bytes of the materialized
batch per element (written once). Their rate, against the copy ceiling (which counts bytes
read plus written the same way), says how close a loader comes to moving memory at the
machine's speed.

For a loader with a compiled per-batch step (a JAX pipeline) FLOPs and bytes accessed come
from XLA's cost analysis of that step, which the loader returns from ``Adapter.step_cost``
(e.g. ``datarax.Pipeline.compiled_cost``), called after the cell is measured.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def input_bytes_per_element(arrays: Mapping[str, np.ndarray], num_records: int) -> float:
    """Stored input bytes per record: every input array's size over the record count, so a
    ragged field (a flat token array plus offsets) counts its average record, not one token."""
    return sum(a.nbytes for a in arrays.values()) / num_records


def step_cost(adapter: Any, job: Any) -> dict[str, float] | str:
    """The adapter's per-batch XLA cost, or why there is none."""
    try:
        cost = adapter.step_cost(job)
    except Exception as e:  # noqa: BLE001 - a failed analysis is reported, never fatal
        return f"the cost analysis failed: {type(e).__name__}: {e}"
    if cost is None:
        return f"{adapter.name} exposes no compiled step (step_cost) to analyse"
    if not isinstance(cost, Mapping) or not {"flops", "bytes_accessed"} <= set(cost):
        return f"{adapter.name}.step_cost returned {cost!r}, expected flops and bytes_accessed"
    return dict(cost)


def roofline_metrics(
    metrics: Mapping[str, Any],
    *,
    batch_size: int,
    input_bytes: int,
    cost: Mapping[str, float] | str,
    ceilings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Roofline figures for a measured cell (``metrics`` from ``bench.measure.summarize``).

    ``cost`` is the per-batch XLA cost or the reason it is absent; ``ceilings`` the probed
    ones (``memory_bytes_per_s``, ``peak_flops_per_s``), or None when there are none.
    Fractions are None where a ceiling is missing.
    """
    ceilings = ceilings or {}
    bandwidth, peak = ceilings.get("memory_bytes_per_s"), ceilings.get("peak_flops_per_s")
    output_bytes = metrics["bytes_per_batch"] / batch_size
    moved = input_bytes + output_bytes
    moved_per_s = moved * metrics["elements_per_s"]
    out: dict[str, Any] = {
        "input_bytes_per_element": float(input_bytes),
        "output_bytes_per_element": float(output_bytes),
        "moved_bytes_per_element": float(moved),
        "moved_bytes_per_s": float(moved_per_s),
        "copy_ceiling_fraction": moved_per_s / bandwidth if bandwidth else None,
    }
    if isinstance(cost, str):
        return {**out, "xla_cost_absent": cost}
    flops, accessed = float(cost["flops"]), float(cost["bytes_accessed"])
    flops_per_s = flops * metrics["batches_per_s"]
    intensity = flops / accessed if accessed else None
    attainable = min(peak, intensity * bandwidth) if peak and bandwidth and intensity else None
    return {
        **out,
        "xla_flops_per_batch": flops,
        "xla_bytes_accessed_per_batch": accessed,
        "xla_transcendentals_per_batch": float(cost.get("transcendentals", 0.0)),
        "flops_per_s": flops_per_s,
        "arithmetic_intensity": intensity,
        "attainable_flops_per_s": attainable,
        "roofline_fraction": flops_per_s / attainable if attainable else None,
    }
