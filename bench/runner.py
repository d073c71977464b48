"""Runs a profile's matrix of (scenario, variant, adapter) cells, each in a fresh process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from adapters import adapter_names
from bench.datacache import default_cache_root, ensure_data
from bench.machine import git_commit, machine_info
from bench.profile import Profile
from bench.store import SCHEMA_VERSION, append_record, write_json_atomic
from scenarios import get_scenario

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Cell:
    scenario: str
    variant: str
    adapter: str

    @property
    def cell_id(self) -> str:
        return f"{self.scenario}/{self.variant}/{self.adapter}"


def plan(profile: Profile) -> list[Cell]:
    """The profile's cells in run order; unknown scenario, variant or adapter names raise."""
    known = set(adapter_names())
    for adapter in profile.adapters:
        if adapter not in known and ":" not in adapter:
            raise KeyError(f"unknown adapter {adapter!r}; valid: {', '.join(sorted(known))}")
    cells = []
    for selection in profile.cells:
        scenario = get_scenario(selection.scenario)
        for variant in selection.variants:
            scenario.variant(variant)
            cells.extend(Cell(scenario.id, variant, a) for a in profile.adapters)
    return cells


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def run_profile(
    profile: Profile,
    output_root: Path,
    *,
    cache_root: Path | None = None,
    on_cell_done: Callable[[Cell, dict[str, Any]], None] = lambda cell, record: None,
) -> Path:
    """Runs every cell, appending one record per cell as it ends; returns the run folder."""
    cells = plan(profile)
    run_id = new_run_id()
    run_dir = output_root / run_id
    (run_dir / "cells").mkdir(parents=True)
    machine = machine_info()
    commit = git_commit()
    write_json_atomic(
        run_dir / "run.json",
        {
            "run_id": run_id,
            "started_at": _now(),
            "profile": dataclasses.asdict(profile),
            "machine": machine,
            "git_commit": commit,
            "cells": [c.cell_id for c in cells],
        },
    )
    cache_root = cache_root or default_cache_root()
    data: dict[tuple[str, str], dict[str, str]] = {}
    for cell in cells:
        key = (cell.scenario, cell.variant)
        if key not in data:
            scenario = get_scenario(cell.scenario)
            data[key], _ = ensure_data(scenario, scenario.variant(cell.variant), profile.seed, cache_root)
        record = _run_cell(cell, data[key], profile, run_dir, run_id, machine, commit)
        append_record(run_dir / "results.jsonl", record)
        on_cell_done(cell, record)
    return run_dir


def _run_cell(cell, data, profile, run_dir, run_id, machine, commit) -> dict[str, Any]:
    scenario = get_scenario(cell.scenario)
    variant = scenario.variant(cell.variant)
    stem = cell.cell_id.replace("/", "__")
    spec_path, out_path = run_dir / "cells" / f"{stem}.json", run_dir / "cells" / f"{stem}.out.json"
    log_path = run_dir / "cells" / f"{stem}.log"
    spec = {
        "adapter": cell.adapter,
        "job": {
            "scenario_id": cell.scenario,
            "variant_name": cell.variant,
            "data": data,
            "seed": profile.seed,
            "cpu_budget": profile.cpu_budget,
        },
        "warmup_batches": profile.warmup_batches,
        "batches": profile.batches,
        "repetitions": profile.repetitions,
    }
    write_json_atomic(spec_path, spec)
    started, start = _now(), time.perf_counter()
    outcome = _spawn(spec_path, out_path, log_path, profile)
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "cell_id": cell.cell_id,
        "profile": profile.name,
        "scenario": cell.scenario,
        "variant": cell.variant,
        "spec_hash": scenario.spec_hash(variant),
        "adapter": cell.adapter,
        "adapter_version": outcome.get("adapter_version"),
        "status": outcome["status"],
        "reason": outcome.get("reason"),
        "metrics": outcome.get("metrics"),
        "samples": outcome.get("samples"),
        "batch_size": variant.batch_size,
        "cpu_budget": profile.cpu_budget,
        "machine_fingerprint": machine["fingerprint"],
        "git_commit": commit,
        "python": machine["python"],
        "started_at": started,
        "wall_s": time.perf_counter() - start,
    }
    return record


def _child_env(profile: Profile) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    if profile.backend == "cpu":
        env.setdefault("JAX_PLATFORMS", "cpu")
    return env


def _spawn(spec_path: Path, out_path: Path, log_path: Path, profile: Profile) -> dict[str, Any]:
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.cell", str(spec_path), str(out_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_child_env(profile),
            start_new_session=True,  # its own process group: a kill reaches its workers too
        )
        try:
            returncode = proc.wait(timeout=profile.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return {"status": "timeout", "reason": f"no result within {profile.timeout_s:g} s"}
        except BaseException:
            _kill_group(proc)
            raise
    _kill_group(proc)  # stray workers a loader left behind
    if out_path.is_file():
        return json.loads(out_path.read_text())
    return {"status": "failed", "reason": _death_reason(returncode, log_path)}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _death_reason(returncode: int, log_path: Path) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        why = f"exited with code {returncode} without a result"
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    return why + (": " + " | ".join(tail) if tail else "")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
