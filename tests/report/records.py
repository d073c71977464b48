"""Synthetic result records for report tests: the stored fields the report reads, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.report import RunData


def ok_record(scenario: str, variant: str, adapter: str, rate: float, reps: int = 5, spread: float = 0.02,
              seed: int = 0, **extra: Any) -> dict[str, Any]:
    """An ok cell whose per-repetition throughput is ``rate`` ± ``spread`` and 20 batches per repetition."""
    rng = np.random.default_rng(seed)
    by_rep = (rate * (1 + spread * rng.standard_normal(reps))).tolist()
    latencies = [(32 / r * (1 + 0.1 * rng.random(20))).tolist() for r in by_rep]
    metrics = {
        "elements_per_s": float(np.median(by_rep)), "elements_per_s_by_repetition": by_rep,
        "ttfb_s": 0.5, "latency_p50_s": 32 / rate, "latency_p95_s": 40 / rate, "latency_p99_s": 45 / rate,
        "peak_rss_bytes": 300 * 2**20, "cpu_s_per_element": 1e-4, "bytes_per_s": rate * 1000,
    }
    metrics.update(extra.pop("metrics", {}))
    record = {"scenario": scenario, "variant": variant, "adapter": adapter, "status": "ok", "reason": None,
              "spec_hash": f"{scenario}-{variant}", "metrics": metrics, "samples": {"batch_latency_s": latencies}}
    record.update(extra)
    return record


def failed_record(scenario: str, variant: str, adapter: str, status: str, reason: str) -> dict[str, Any]:
    return {"scenario": scenario, "variant": variant, "adapter": adapter, "status": status, "reason": reason,
            "spec_hash": f"{scenario}-{variant}", "metrics": None, "samples": None}


def run_data(records: list[dict[str, Any]], folder: Path, meta: dict[str, Any] | None = None, name: str = "run-a") -> RunData:
    meta = meta or {"run_id": name, "profile": {"name": "ci_cpu"},
                    "machine": {"cpu_model": "Test CPU", "cores": 2, "ram_bytes": 2**34, "fingerprint": "abc"}}
    return RunData(name, folder, tuple(records), meta)
