"""End to end: the runner isolates cells, records failures, and measures what it claims."""

import os
import statistics

import pytest

from bench.cli import main
from bench.profile import load_profile
from bench.runner import run_profile
from bench.store import load_records

PLUGINS = "tests.bench.plugins"


def _run(tmp_path, adapters, **overrides):
    settings = {"warmup_batches": 1, "batches": 4, "repetitions": 2, **overrides}
    profile = load_profile("ci_cpu").with_overrides(adapters=tuple(adapters), **settings)
    profile = profile.with_overrides(cells=tuple(c for c in profile.cells if c.scenario == "CV-1"))
    run_dir = run_profile(profile, tmp_path / "runs")
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems  # every record matches the shipped JSON Schema
    return run_dir, {r["adapter"].rsplit(":", 1)[-1]: r for r in records}


def test_main_command_runs_builtin_and_extra_module_adapters(tmp_path, capsys):
    code = main(["run", "--profile", "ci_cpu", "--scenarios", "CV-1", "--adapters", "datarax,numpy",
                 "--batches", "4", "--min-window-s", "0", "--repetitions", "2", "--warmup", "1", "--adapter-module", f"{PLUGINS}:SleepAdapter",
                 "--output", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    for word in ("elements/s", "TTFB", "p50 batch", "p95 batch", "peak RSS", "datarax", "numpy", "[3/3]"):
        assert word in out
    (run_dir,) = tmp_path.iterdir()
    records, _ = load_records(run_dir / "results.jsonl")
    assert [r["adapter"] for r in records] == ["datarax", "numpy", f"{PLUGINS}:SleepAdapter"]
    for r in records:
        assert r["status"] == "ok", r
        m = r["metrics"]
        assert m["elements_per_s"] > 0 and m["bytes_per_s"] > 0 and m["peak_rss_bytes"] > 20 * 2**20
        assert 0 < m["peak_pss_bytes"] <= m["peak_rss_bytes"] * 1.05
        assert m["cpu_s_per_element"] > 0 and len(m["elements_per_s_by_repetition"]) == 2
        assert len(r["samples"]["batch_latency_s"]) == 2 and len(r["samples"]["batch_latency_s"][0]) == 4
        assert r["spec_hash"] and r["git_commit"] and len(r["cpus"]) == min(2, len(os.sched_getaffinity(0)))
        assert r["machine"]["cores"] >= 1 and r["machine"]["ram_bytes"] > 0 and r["machine"]["cpu_model"]
        assert r["versions"]["jax"] and r["versions"]["numpy"] and r["adapter_version"]
        assert r["delivery"] == "device" and r["device"] == "cpu:0"
        assert m["conformance_s"] > 0 and m["sampling_check_batches"] == 64 and "timed_sample_seed" in m


def test_crash_hang_memory_hog_are_recorded_and_the_run_goes_on(tmp_path):
    adapters = [f"{PLUGINS}:{name}" for name in ("CrashAdapter", "HangAdapter", "MemoryHogAdapter",
                                                 "WrongShapeAdapter", "UnavailableAdapter", "HostOnlyAdapter")]
    _, records = _run(tmp_path, [*adapters, "numpy"], timeout_s=10, memory_limit_mb=400)
    assert records["CrashAdapter"]["status"] == "failed"
    assert "SIGABRT" in records["CrashAdapter"]["reason"]
    assert records["HangAdapter"]["status"] == "timeout"
    assert "10 s" in records["HangAdapter"]["reason"]
    hog = records["MemoryHogAdapter"]
    assert hog["status"] == "failed" and "memory limit of 400 MiB" in hog["reason"], hog["reason"]
    assert hog["metrics"]["peak_rss_bytes"] > 400 * 2**20
    assert hog["wall_s"] < 10  # killed at the limit, not at the timeout
    assert records["WrongShapeAdapter"]["status"] == "non-conformant"
    assert "shape" in records["WrongShapeAdapter"]["reason"]
    assert records["UnavailableAdapter"]["status"] == "unavailable"
    assert "nothing" in records["UnavailableAdapter"]["reason"]
    host_only = records["HostOnlyAdapter"]
    assert host_only["status"] == "non-conformant" and host_only["delivery"] == "device"
    assert "field 'image' is a numpy.ndarray, not a jax.Array" in host_only["reason"], host_only["reason"]
    assert records["numpy"]["status"] == "ok"


def test_host_delivery_times_every_loader_to_host_arrays(tmp_path, capsys):
    run_dir, records = _run(tmp_path, ["datarax", f"{PLUGINS}:HostOnlyAdapter"], delivery="host")
    for r in records.values():
        assert r["status"] == "ok", r["reason"]
        assert r["delivery"] == "host" and r["device"] == "host"
    capsys.readouterr()
    assert main(["show", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "delivery host" in out and "batches delivered to host: host" in out and "conformance checks" in out


def test_production_time_is_inside_the_timed_region(tmp_path):
    _, records = _run(tmp_path, [f"{PLUGINS}:SleepAdapter"], batches=12, repetitions=3)
    r = records["SleepAdapter"]
    assert r["status"] == "ok"
    assert r["metrics"]["latency_p50_s"] == pytest.approx(0.02, rel=0.05, abs=0.001)
    steady = [x for rep in r["samples"]["batch_latency_s"] for x in rep[1:]]
    assert statistics.median(steady) >= 0.02
    assert r["metrics"]["elements_per_s"] == pytest.approx(128 / 0.02, rel=0.1)


def test_peak_rss_includes_a_worker_child(tmp_path):
    _, records = _run(tmp_path, [f"{PLUGINS}:WorkerMemoryAdapter"])
    r = records["WorkerMemoryAdapter"]
    assert r["status"] == "ok", r["reason"]
    assert r["metrics"]["peak_rss_bytes"] >= 500 * 2**20
    assert r["metrics"]["peak_pss_bytes"] >= 500 * 2**20  # the worker's own pages, not shared ones
