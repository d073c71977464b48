"""End to end: the runner isolates cells, records failures, and measures what it claims."""

import json
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
    run_dir = run_profile(profile, tmp_path / "runs")
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems
    return run_dir, {r["adapter"].rsplit(":", 1)[-1]: r for r in records}


def test_ci_cpu_main_command_prints_the_table(tmp_path, capsys):
    code = main(["run", "--profile", "ci_cpu", "--batches", "4", "--repetitions", "2",
                 "--warmup", "1", "--output", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    for word in ("elements/s", "TTFB", "p50 batch", "p95 batch", "peak RSS", "datarax", "numpy"):
        assert word in out
    (run_dir,) = tmp_path.iterdir()
    records, _ = load_records(run_dir / "results.jsonl")
    assert {r["adapter"] for r in records} == {"datarax", "numpy"}
    for r in records:
        assert r["status"] == "ok", r
        m = r["metrics"]
        assert m["elements_per_s"] > 0 and m["peak_rss_bytes"] > 20 * 2**20
        assert len(r["samples"]["batch_latency_s"]) == 2 and len(r["samples"]["batch_latency_s"][0]) == 4
        assert r["spec_hash"] and r["machine_fingerprint"] and r["git_commit"]


def test_failures_are_recorded_and_the_run_goes_on(tmp_path):
    adapters = [f"{PLUGINS}:CrashAdapter", f"{PLUGINS}:HangAdapter", f"{PLUGINS}:WrongShapeAdapter",
                f"{PLUGINS}:UnavailableAdapter", "numpy"]
    _, records = _run(tmp_path, adapters, timeout_s=20)
    assert records["CrashAdapter"]["status"] == "failed"
    assert "SIGABRT" in records["CrashAdapter"]["reason"]
    assert records["HangAdapter"]["status"] == "timeout"
    assert records["WrongShapeAdapter"]["status"] == "non-conformant"
    assert "shape" in records["WrongShapeAdapter"]["reason"]
    assert records["UnavailableAdapter"]["status"] == "unavailable"
    assert "nothing" in records["UnavailableAdapter"]["reason"]
    assert records["numpy"]["status"] == "ok"


def test_production_time_is_inside_the_timed_region(tmp_path):
    _, records = _run(tmp_path, [f"{PLUGINS}:SleepAdapter"], batches=12, repetitions=3)
    r = records["SleepAdapter"]
    assert r["status"] == "ok"
    assert r["metrics"]["latency_p50_s"] == pytest.approx(0.02, rel=0.05, abs=0.001)
    steady = [x for rep in r["samples"]["batch_latency_s"] for x in rep[1:]]
    assert statistics.median(steady) >= 0.02
