"""A valid result record to build test runs from."""


def sample_record(status="ok", **changes):
    """A record as the runner writes it (small, but every required field)."""
    record = {
        "schema_version": 2, "run_id": "r1", "cell_id": "CV-1/small/numpy", "profile": "ci_cpu",
        "scenario": "CV-1", "variant": "small", "spec_hash": "0123456789abcdef", "adapter": "numpy",
        "adapter_version": "2.4.6", "status": status, "reason": None if status == "ok" else "why",
        "metrics": {
            "elements_per_s": 100.0, "batches_per_s": 1.0, "bytes_per_s": 10.0, "ttfb_s": 0.5,
            "latency_p50_s": 0.01, "latency_p95_s": 0.02, "latency_p99_s": 0.03, "cpu_s_per_element": 1e-4,
            "peak_rss_bytes": 2**26, "peak_pss_bytes": None, "elements_per_s_by_repetition": [100.0],
        },
        "samples": {"batch_latency_s": [[0.5, 0.01]]},
        "batch_size": 128, "cpu_budget": 2, "cpus": [0, 1],
        "machine": {"cpu_model": "x", "cores": 2, "ram_bytes": 2**34, "os": "Linux", "arch": "x86_64",
                    "python": "3.11.7", "fingerprint": "abc"},
        "machine_fingerprint": "abc", "git_commit": "deadbeef", "python": "3.11.7",
        "versions": {"jax": "0.10.2", "grain": None}, "started_at": "2026-01-01T00:00:00+00:00", "wall_s": 1.5,
    }
    record.update(changes)
    return record
