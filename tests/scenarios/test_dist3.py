"""DIST-3: one pipeline across two JAX processes on loopback, run end to end through the harness,
and a peer process that dies or hangs failing the cell at once, leaving no process behind."""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from bench.datacache import ensure_data
from bench.isolation import Limits, child_env, run_isolated
from bench.profile import CellSelection, load_profile
from bench.runner import run_profile
from bench.store import load_records
from scenarios import get_scenario
from scenarios.multiprocess import MultiProcessMismatch, _check_shards, local_rows

DIST3 = get_scenario("DIST-3")


def test_shards_must_be_disjoint_distinct_and_cover_the_epoch():
    _check_shards(np.array([[0, 2, 4], [1, 3, 5]]), 6, 6)
    with pytest.raises(MultiProcessMismatch, match="overlap: 1 records"):
        _check_shards(np.array([[0, 2, 4], [1, 2, 5]]), 6, 6)
    with pytest.raises(MultiProcessMismatch, match="process 1 read a record twice"):
        _check_shards(np.array([[0, 2, 4], [1, 1, 5]]), 6, 6)
    with pytest.raises(MultiProcessMismatch, match="an epoch is 8 distinct records"):
        _check_shards(np.array([[0, 2, 4], [1, 3, 5]]), 8, 8)


def test_the_global_check_rejects_host_batches_and_wrong_rows():
    import jax

    variant = DIST3.variant("small")
    inputs = {"x": np.zeros((16384, 256), np.float32), "index": np.arange(16384, dtype=np.int32)}
    host = {"x": np.zeros((256, 256), np.float32), "index": np.arange(256, dtype=np.int32)}
    assert "not a global jax.Array" in DIST3.global_problem(variant, host, inputs)
    if jax.device_count() == 1:  # this pytest process: one device, all the global batch's
        on_one = {k: jax.device_put(v) for k, v in host.items()}  # all devices here, but untransformed
        assert local_rows(on_one["index"]).tolist() == list(range(256))
        assert "differs from the reference" in DIST3.global_problem(variant, on_one, inputs)
        on_one["x"] = on_one["x"] * 2 - 1
        assert DIST3.global_problem(variant, on_one, inputs) is None


def test_variants_force_cpu_devices_per_process_and_all_of_them_for_the_reference():
    small = DIST3.variant("small")
    assert DIST3.child_env(small)["XLA_FLAGS"].endswith("--xla_force_host_platform_device_count=2")
    assert DIST3.child_env(small)["JAX_PLATFORMS"] == "cpu"
    assert DIST3.reference_env(small)["XLA_FLAGS"].endswith("--xla_force_host_platform_device_count=4")
    assert DIST3.child_env(DIST3.variant("multihost")) == {}  # a node's own devices


def test_two_processes_run_dist3_through_the_runner_with_checked_outcomes(tmp_path):
    profile = load_profile("ci_cpu").with_overrides(
        adapters=("datarax", "grain", "torch"), cells=(CellSelection("DIST-3", ("small",)),),
        warmup_batches=2, batches=5, repetitions=2)
    run_dir = run_profile(profile, tmp_path / "runs")
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems
    by_adapter = {r["adapter"]: r for r in records}
    for name in ("datarax", "grain"):
        record = by_adapter[name]
        assert record["status"] == "ok", (name, record["reason"])
        out = record["outcomes"]
        assert out["processes"] == 2 and out["devices"] == 4 and out["devices_per_process"] == 2
        assert out["shards_disjoint"] and out["shards_cover_epoch"] and out["global_batch_matches_reference"]
        assert out["records_per_process_per_epoch"] == 8192 and out["global_batch_shape"] == "256x256"
        assert out["per_device_shard_shape"] == "64x256" and out["cpus_per_process"] == 1
        assert out["one_process_elements_per_s"] > 0 and out["speedup_vs_one_process"] > 0
        assert out["process0_elements_per_s"] > 0 and out["process1_elements_per_s"] > 0
        assert record["metrics"]["elements_per_s"] > 0 and len(record["samples"]["batch_latency_s"]) == 2
        stem = run_dir / "cells" / f"DIST-3__small__{name}"
        cpus = [json.loads(stem.with_name(f"{stem.name}.process{i}.out.json").read_text())["cpus"] for i in (0, 1)]
        assert len(cpus[0]) == len(cpus[1]) == 1 and cpus[0] != cpus[1]  # the budget shared, one CPU each
    assert by_adapter["torch"]["status"] == "unsupported" and "multi-process JAX job" in by_adapter["torch"]["reason"]


def _cell_spec(tmp_path, **extra):
    variant = DIST3.variant("small")
    data, _ = ensure_data(DIST3, variant, 0, tmp_path / "cache")
    job = {"scenario_id": "DIST-3", "variant_name": "small", "data": data, "seed": 0, "cpu_budget": 2}
    return {"adapter": "grain", "job": job, "warmup_batches": 2, "batches": 400, "repetitions": 50, **extra}


def _signal_process_one_in_a_window(cells, signum, found):
    """Waits for process 1 to report a timed window, then sends it ``signum``."""
    progress = cells / "cell.process1.progress.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            report = json.loads(progress.read_text())
        except (OSError, ValueError):
            report = {}
        if report.get("phase", "").startswith("window"):
            found["pids"] = [json.loads((cells / f"cell.process{i}.progress.json").read_text())["pid"] for i in (0, 1)]
            os.kill(report["pid"], signum)
            return
        time.sleep(0.05)


def _run_cell_and_signal(tmp_path, signum, **extra):
    cells = tmp_path / "cells"
    cells.mkdir()
    env = {**child_env("cpu"), **DIST3.child_env(DIST3.variant("small"))}
    found = {}
    killer = threading.Thread(target=_signal_process_one_in_a_window, args=(cells, signum, found))
    killer.start()
    started = time.monotonic()
    outcome = run_isolated(_cell_spec(tmp_path, **extra), cells, "cell", Limits(timeout_s=240), env)
    killer.join()
    assert found, "process 1 never reached a timed window"
    for pid in found["pids"]:  # no process of the group is left
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    return outcome, time.monotonic() - started


def test_a_peer_process_that_dies_fails_the_cell_at_once_with_its_reason(tmp_path):
    outcome, seconds = _run_cell_and_signal(tmp_path, signal.SIGKILL)
    assert outcome["status"] == "failed"
    assert outcome["reason"].startswith("process 1 died: killed by SIGKILL"), outcome["reason"]
    assert seconds < 200


def test_a_peer_process_that_hangs_fails_the_cell_naming_it(tmp_path):
    outcome, seconds = _run_cell_and_signal(tmp_path, signal.SIGSTOP, stall_timeout_s=15)
    assert outcome["status"] == "failed"
    assert outcome["reason"].startswith("process 1 made no progress for"), outcome["reason"]
    assert "(limit 15 s)" in outcome["reason"] and seconds < 200
