"""A run interrupted after two cells keeps them; ``--resume`` runs only the rest."""

import fcntl
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.cli import main
from bench.profile import load_profile
from bench.store import load_records

ROOT = Path(__file__).resolve().parents[2]
PROFILE = """
description = "three quick cells"
backend = "cpu"
cpu_budget = 2
warmup_batches = 1
batches = 4
repetitions = 2
timeout_s = 60
seed = 0
adapters = ["tests.bench.plugins:SleepAdapter", "numpy", "tests.bench.plugins:SlowStartAdapter"]
[[cells]]
scenario = "CV-1"
variants = ["small"]
"""


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_sigint_after_two_cells_then_resume(tmp_path):
    profile, out = tmp_path / "three.toml", tmp_path / "runs"
    profile.write_text(PROFILE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--profile", str(profile), "--output", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(_lines(d / "results.jsonl") >= 2 for d in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # the third cell is in its 3 s start-up
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout
    (run_dir,) = out.iterdir()
    assert f"--resume {run_dir.name}" in stdout
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems and len(records) == 2
    assert all(r["status"] == "ok" for r in records)
    cells_left = [p for p in psutil.process_iter(["cmdline"]) if str(run_dir) in " ".join(p.info["cmdline"] or [])]
    assert not cells_left, "the interrupted cell was not killed"

    assert main(["run", "--resume", run_dir.name, "--output", str(out)]) == 0
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems and [r["status"] for r in records] == ["ok"] * 3
    assert len({r["cell_id"] for r in records}) == 3 and {r["run_id"] for r in records} == {run_dir.name}
    assert records[-1]["adapter"].endswith("SlowStartAdapter")
    assert len(json.loads((run_dir / "run.json").read_text())["resumed"]) == 1
    assert main(["run", "--resume", run_dir.name, "--output", str(out)]) == 0  # nothing left: a no-op
    assert len(load_records(run_dir / "results.jsonl")[0]) == 3


def _stored_run(tmp_path) -> Path:
    run = tmp_path / "runs" / "20260101T000000Z-abcdef"
    run.mkdir(parents=True)
    info = {"run_id": run.name, "profile": load_profile("ci_cpu").to_dict(), "cells": [], "resumed": []}
    (run / "run.json").write_text(json.dumps(info))
    return run


def test_resume_refuses_bad_input(tmp_path, capsys):
    run = _stored_run(tmp_path)
    out = str(run.parent)
    assert main(["run", "--resume", "nope", "--output", out]) == 2
    assert run.name in capsys.readouterr().out  # the runs that do exist
    assert main(["run", "--resume", run.name, "--output", out, "--batches", "3"]) == 2
    assert "--batches" in capsys.readouterr().out
    assert main(["run", "--resume", run.name, "--output", out, "--profile", "cpu_full"]) == 2
    assert "ci_cpu" in capsys.readouterr().out
    assert main(["run", "--output", out]) == 2
    assert "--profile" in capsys.readouterr().out


def test_a_run_in_use_is_not_resumed_twice(tmp_path, capsys):
    run = _stored_run(tmp_path)
    with open(run / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert main(["run", "--resume", run.name, "--output", str(run.parent)]) == 2
    assert "another process" in capsys.readouterr().out


def test_a_killed_runner_takes_its_running_cell_down(tmp_path):
    profile, out = tmp_path / "one.toml", tmp_path / "runs"
    profile.write_text(PROFILE.replace('"tests.bench.plugins:SleepAdapter", "numpy", "tests.bench.plugins:SlowStartAdapter"',
                                       '"tests.bench.plugins:HangAdapter"'))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cli", "run", "--profile", str(profile), "--output", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline, cells = time.monotonic() + 60, []
    while not cells:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
        cells = [p for p in psutil.process_iter(["cmdline"])
                 if "bench.cell" in (p.info["cmdline"] or []) and str(out) in " ".join(p.info["cmdline"])]
    proc.kill()  # SIGKILL: no handler runs in the runner
    proc.wait()
    gone, alive = psutil.wait_procs(cells, timeout=5)
    for cell in alive:
        cell.kill()
    assert not alive, "the cell outlived its runner"
