"""A runner killed by SIGKILL leaves none of its cell's processes; a later run ends leftovers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import reaper
from bench.cli import main
from bench.probe import ceilings_cache_path
from bench.store import load_records

ROOT = Path(__file__).resolve().parents[2]
PROFILE = """
description = "cells that start workers"
backend = "cpu"
cpu_budget = 2
warmup_batches = 1
batches = 2
repetitions = 1
timeout_s = 60
seed = 0
adapters = [{adapters}]
[[cells]]
scenario = "CV-1"
variants = ["small"]
"""


def _profile(tmp_path, *adapters) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(PROFILE.format(adapters=", ".join(f'"tests.bench.{a}"' for a in adapters)))
    return path


@pytest.fixture(scope="module")
def _cache_root(tmp_path_factory) -> Path:
    """This module's cache root, its ceilings cached as absent: no machine probe here, and the
    session's shared cache keeps the real ceilings other tests' runs read."""
    cache = tmp_path_factory.mktemp("orphans-cache")
    path = ceilings_cache_path(cache, "cpu")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"absent": "not probed in tests/bench/test_orphans.py"}))
    return cache


@pytest.fixture(autouse=True)
def _cache(_cache_root, monkeypatch):
    monkeypatch.setenv("DATARAX_BENCH_CACHE", str(_cache_root))


def _of_cell(marker: str, sid: int) -> list[int]:
    """Live (non-zombie) processes with the cell's marker in their environment or in its session."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
            environ = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] != b"Z" and (int(fields[3]) == sid or f"{reaper.ENV}={marker}".encode() in environ):
            found.append(int(name))
    return found


@pytest.mark.parametrize("adapter, workers", [
    ("orphan_plugins:GrainWorkersAdapter", 2),
    ("orphan_plugins:TorchWorkersAdapter", 2),
    ("orphan_plugins:CarelessAdapter", 3),  # a forked pool of 2, a child in a session of its own
])
def test_sigkill_of_the_runner_leaves_none_of_the_cell(tmp_path, adapter, workers):
    ready, out = tmp_path / "ready", tmp_path / "runs"
    runner = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--profile", str(_profile(tmp_path, adapter)), "--output", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "ORPHAN_READY": str(ready)},
    )
    left: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert runner.poll() is None and time.monotonic() < deadline, "the cell's workers never started"
            time.sleep(0.05)
        (record_path,) = out.glob("*/cells/*.session.json")
        record = json.loads(record_path.read_text())
        assert len(_of_cell(record["marker"], record["sid"])) >= 1 + workers
        runner.kill()  # SIGKILL: no handler, no finally runs in the runner
        runner.wait()
        deadline = time.monotonic() + 5
        while (left := _of_cell(record["marker"], record["sid"])) or record_path.exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not left, f"processes of the cell outlived its runner: {left}"
        assert not record_path.exists(), "the reaper keeps the session record of a cell it ended"
    finally:
        if runner.poll() is None:
            runner.kill()
        for pid in left:
            os.kill(pid, signal.SIGKILL)


def _spawn_marked(marker: str) -> subprocess.Popen:
    """A session leader with a child, both carrying ``marker``: a cell whose reaper died too."""
    code = "import subprocess, time; subprocess.Popen(['sleep', '3600']); time.sleep(3600)"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            env={**os.environ, reaper.ENV: marker})


def test_resume_ends_what_a_dead_runner_left(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "--profile", str(_profile(tmp_path, "plugins:CrashAdapter")), "--output", str(out)]) == 0
    (run_dir,) = out.iterdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan, live = _spawn_marked("old/cell/1"), _spawn_marked("old/cell/2")
    try:
        time.sleep(0.3)  # the children have started
        base = {"since": 0, "boot_id": reaper.boot_id()}
        (run_dir / "cells" / "gone.session.json").write_text(json.dumps(
            {**base, "marker": "old/cell/1", "sid": orphan.pid, "runner_pid": dead.pid, "runner_start": 1}))
        (run_dir / "cells" / "running.session.json").write_text(json.dumps(  # its runner (us) still runs
            {**base, "marker": "old/cell/2", "sid": live.pid, "runner_pid": os.getpid(),
             "runner_start": reaper.start_ticks(os.getpid())}))
        assert len(_of_cell("old/cell/1", orphan.pid)) == 2
        capsys.readouterr()

        assert main(["run", "--resume", run_dir.name, "--output", str(out)]) == 0
        captured = capsys.readouterr()
        assert f"ended 2 leftover process(es) of cell gone of run {run_dir.name}" in captured.err
        assert orphan.wait(timeout=5) == -signal.SIGKILL and not _of_cell("old/cell/1", orphan.pid)
        assert not (run_dir / "cells" / "gone.session.json").exists()
        assert live.poll() is None and len(_of_cell("old/cell/2", live.pid)) == 2
        assert (run_dir / "cells" / "running.session.json").exists()
        assert "1 cell(s) of run" in captured.out and "--rerun-failed" in captured.out  # the crashed cell
        assert "CV-1/small/tests.bench.plugins:CrashAdapter" in captured.out
    finally:
        for pid in _of_cell("old/cell/1", orphan.pid) + _of_cell("old/cell/2", live.pid):
            os.kill(pid, signal.SIGKILL)
        orphan.wait()
        live.wait()


def test_rerun_failed_runs_the_failed_cells_again_and_keeps_the_rest(tmp_path, capsys):
    out = tmp_path / "runs"
    profile = _profile(tmp_path, "plugins:CrashAdapter", "plugins:SleepAdapter")
    assert main(["run", "--profile", str(profile), "--output", str(out)]) == 0
    (run_dir,) = out.iterdir()
    results = run_dir / "results.jsonl"
    with open(results, "a") as f:
        f.write('{"torn": \n')  # a line that is no record stays as it is
    before = results.read_text().splitlines()
    assert main(["run", "--resume", run_dir.name, "--output", str(out), "--rerun-failed"]) == 0
    after = results.read_text().splitlines()
    assert after[:2] == before[1:]  # the ok record and the torn line, untouched
    replaced = (run_dir / "results.replaced.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in replaced] == ["failed"]
    records, problems = load_records(results)
    assert sorted(r["status"] for r in records) == ["failed", "ok"] and len(problems) == 1
    assert main(["run", "--output", str(out), "--rerun-failed"]) == 2
