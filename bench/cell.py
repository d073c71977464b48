"""One benchmark cell, run as ``python -m bench.cell SPEC OUT`` in a fresh process.

The parent hands over a JSON spec; this process loads the adapter, measures, and writes one
JSON result to OUT (atomically). A crash, a hang or an OOM kill leaves no OUT, and the parent
records the failure.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from bench.store import write_json_atomic


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    from adapters import Job, load_adapter
    from bench.measure import ProcessTreeSampler, measure, summarize

    budget = spec["job"]["cpu_budget"]
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:budget]
        os.sched_setaffinity(0, cpus)

    with ProcessTreeSampler() as sampler:
        adapter = load_adapter(spec["adapter"])
        result: dict[str, Any] = {"adapter_version": None, "metrics": None, "samples": None}
        reason = adapter.available()
        if reason:
            return {**result, "status": "unavailable", "reason": reason}
        result["adapter_version"] = adapter.version()
        job = Job(**spec["job"])
        scenario, variant = job.scenario, job.variant
        reason = adapter.supports(scenario, variant)
        if reason:
            return {**result, "status": "unsupported", "reason": reason}
        try:
            raw = measure(
                lambda: adapter.open(job),
                check=lambda batch: scenario.check_batch(variant, batch),
                expected_elements=variant.batch_size,
                warmup_batches=spec["warmup_batches"],
                batches=spec["batches"],
                repetitions=spec["repetitions"],
                sampler=sampler,
            )
        finally:
            adapter.close()
    result.update(status=raw["status"], reason=raw["reason"])
    if raw["status"] == "ok":
        result["metrics"] = summarize(raw, variant.batch_size)
        result["samples"] = {"batch_latency_s": raw["latencies_s"]}
    else:
        result["metrics"] = {"ttfb_s": raw["ttfb_cold_s"]}
    result["metrics"]["peak_rss_bytes"] = sampler.peak_rss
    return result


def main(argv: list[str]) -> int:
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    try:
        result = run_cell(spec)
    except BaseException as e:  # noqa: BLE001 - everything the loader raises is the cell's failure
        result = {
            "status": "failed",
            "reason": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(),
        }
    write_json_atomic(out_path, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
