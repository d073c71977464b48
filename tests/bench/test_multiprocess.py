"""bench.multiprocess without starting JAX: the processes a cell plans, how it merges them, and how
it tells a hung process (the end-to-end DIST-3 runs are in tests/scenarios/test_dist3.py)."""

import json
import time

import pytest

from bench import multiprocess
from bench.multiprocess import COORDINATOR_ENV, NUM_PROCESSES_ENV, PROCESS_ID_ENV, _cell_address, _plan, _stuck, merge


def _spec(variant="small", adapter="datarax"):
    job = {"scenario_id": "DIST-3", "variant_name": variant, "data": {}, "seed": 0, "cpu_budget": 2}
    return {"adapter": adapter, "job": job, "warmup_batches": 1, "batches": 3, "repetitions": 2}


@pytest.fixture
def no_launcher(monkeypatch):
    for name in (COORDINATOR_ENV, PROCESS_ID_ENV, NUM_PROCESSES_ENV):
        monkeypatch.delenv(name, raising=False)


def test_the_scenario_declares_its_process_count():
    assert multiprocess.process_count(_spec()) == 2
    assert multiprocess.process_count({"job": {"scenario_id": "DIST-1", "variant_name": "small"}}) == 1


def test_on_one_host_every_process_gets_its_index_a_loopback_coordinator_and_its_share_of_cpus(no_launcher):
    plan = _plan(_spec(), 2, [4, 7])
    assert [p["job"]["process_index"] for p in plan] == [0, 1]
    assert {p["job"]["process_count"] for p in plan} == {2}
    assert [p["cpus"] for p in plan] == [[4], [7]] and {p["job"]["cpu_budget"] for p in plan} == {1}
    (address,) = {p["coordinator"] for p in plan}
    assert address.startswith("127.0.0.1:") and int(address.split(":")[1]) > 0
    assert [p["cpus"] for p in _plan(_spec(), 2, [0, 1, 2, 3, 5])] == [[0, 1], [2, 3]]


def test_fewer_cpus_than_processes_is_refused_naming_the_budget(no_launcher):
    with pytest.raises(ValueError, match=r"runs 2 processes.*1 CPU\(s\).*cpu_budget"):
        _plan(_spec(), 2, [0])


def test_a_launcher_assigns_this_host_one_process_and_every_host_derives_the_same_port(monkeypatch):
    monkeypatch.setenv(COORDINATOR_ENV, "10.0.0.5:8476")
    monkeypatch.setenv(PROCESS_ID_ENV, "1")
    monkeypatch.setenv(NUM_PROCESSES_ENV, "2")
    (one,) = _plan(_spec(), 2, [0, 1, 2])
    assert one["job"]["process_index"] == 1 and one["job"]["process_count"] == 2 and one["cpus"] == [0, 1, 2]
    host, port = one["coordinator"].split(":")
    assert host == "10.0.0.5" and 8476 <= int(port) < 9476
    assert one["coordinator"] == _cell_address("10.0.0.5:8476", _spec())  # the same on every node
    assert _cell_address("10.0.0.5:8476", _spec(adapter="grain")) != one["coordinator"]  # a new one per cell
    monkeypatch.setenv(NUM_PROCESSES_ENV, "3")
    with pytest.raises(ValueError, match="runs 2 processes; the launcher started 3"):
        _plan(_spec(), 2, [0])
    monkeypatch.setenv(NUM_PROCESSES_ENV, "x")
    with pytest.raises(ValueError, match="needs integer"):
        _plan(_spec(), 2, [0])


def _raw(latencies, cpu, ttfb=0.5, warm=(0.1, 0.1, 0.1)):
    return {"ttfb_cold_s": ttfb, "ttfb_warm_s": list(warm), "latencies_s": latencies, "bytes_per_batch": 1000,
            "cpu_seconds": cpu, "stolen_cpu_seconds": None, "stage_times": {}}


def test_merge_takes_each_step_at_its_slowest_process_and_adds_cpu(tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((16384, 4), np.float32))
    spec = {**_spec(), "job": {**_spec()["job"], "data": {"x": str(tmp_path / "x.npy")}}}
    slow, fast = [[0.02, 0.01], [0.01, 0.01]], [[0.01, 0.03], [0.01, 0.01]]
    by_process = [_raw(slow, 1.0, ttfb=0.5, warm=(0.1, 0.3, 0.1)), _raw(fast, 2.0, ttfb=0.7, warm=(0.2, 0.1, 0.1))]
    result = {"adapter_version": "1", "raw_by_process": by_process, "setup_s": 0.0, "cpus": [0],
              "outcomes": {"processes": 2}, "peak_rss_of_one_bytes": 10}
    single = {**result, "raw_by_process": [_raw([[0.01, 0.01], [0.01, 0.01]], 1.0)], "peak_rss_of_one_bytes": 30}
    out = merge(spec, [result, {**result, "peak_rss_of_one_bytes": 20}], single)
    assert out["samples"]["batch_latency_s"] == [[0.02, 0.03], [0.01, 0.01]]
    metrics, outcomes = out["metrics"], out["outcomes"]
    assert metrics["elements_per_s"] == pytest.approx(4 * 256 / 0.07)
    assert metrics["cpu_seconds"] == 3.0 and metrics["ttfb_s"] == 0.7 and metrics["ttfb_warm_s"] == 0.2
    assert outcomes["one_process_elements_per_s"] == pytest.approx(4 * 256 / 0.04)
    assert outcomes["speedup_vs_one_process"] == pytest.approx(0.04 / 0.07)
    assert outcomes["process0_elements_per_s"] == pytest.approx(4 * 128 / 0.05)
    assert outcomes["processes"] == 2 and outcomes["cpus_per_process"] == 1 and out["peak_rss_of_one_bytes"] == 30
    assert "xla_cost_absent" in metrics and metrics["window_min_s"] == 0.0


class _Stalled:
    def __init__(self, index, step, phase, seconds, limit=None):
        self.index, self._phase = index, (step, phase, limit, seconds)

    def phase(self):
        return self._phase


def test_a_hung_group_names_the_process_furthest_behind_first():
    waiting = _Stalled(0, 9, "waiting for every process before window 3 of 5", 40.0)
    stopped = _Stalled(1, 7, "window 2 of 5", 41.0)
    reason = _stuck([waiting, stopped], {}, stall_s=30)
    assert reason.startswith("process 1 made no progress for 41 s (limit 30 s)")
    assert reason.index("process 1 in 'window 2 of 5'") < reason.index("process 0 in 'waiting")
    assert _stuck([waiting, stopped], {}, stall_s=60) is None
    joining = _Stalled(0, 2, "joining coordinator", 100.0, limit=900)  # a phase with its own limit
    assert _stuck([joining], {}, stall_s=30) is None
    assert _stuck([stopped], {1: {"status": "ok"}}, stall_s=1) is None  # a finished process is not hung


def test_the_progress_file_is_read_as_the_phase_and_its_age(tmp_path):
    from bench.lockstep import Progress

    worker = multiprocess._Worker.__new__(multiprocess._Worker)
    worker.progress, worker.started = tmp_path / "p.json", time.monotonic()
    assert worker.phase()[:2] == (0, "starting Python")
    progress = Progress(worker.progress)
    progress("starting")
    progress("window 1 of 2", limit_s=5)
    step, phase, limit, age = worker.phase()
    assert (step, phase, limit) == (2, "window 1 of 2", 5) and 0 <= age < 5
    assert json.loads(worker.progress.read_text())["pid"] > 0
