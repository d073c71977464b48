"""Runs a profile's matrix of (scenario, variant, adapter) cells, each in a fresh process.

A run is a folder: ``run.json`` (profile, machine, planned cells) is written first, then one
record per cell is appended to ``results.jsonl`` as the cell ends. A run stopped midway (Ctrl-C,
a kill, a crash) keeps its finished cells and :func:`resume_run` runs the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import secrets
import time
from pathlib import Path
from typing import Any, Iterator, Protocol

from adapters import AdapterNotFound, adapter_class, adapter_origins
from bench import trace
from bench.datacache import default_cache_root, ensure_data
from bench.isolation import PROJECT_ROOT, Limits, child_env, run_isolated
from bench.machine import git_commit, library_versions, machine_info
from bench.probe import cached_ceilings
from bench.profile import Profile, profile_from_dict
from bench.reaper import end_leftovers
from bench.records import CellSpec, Record
from bench.store import (
    RESULTS, RUN_INFO, append_record, drop_records, load_records, record_problem, write_json_atomic,
)
from scenarios import get_scenario


@dataclasses.dataclass(frozen=True)
class Cell:
    scenario: str
    variant: str
    adapter: str
    replicate: int = 0  # which of the profile's independent processes of this cell

    @property
    def cell_id(self) -> str:
        return f"{self.scenario}/{self.variant}/{self.adapter}"

    @property
    def key(self) -> tuple[str, int]:
        """What identifies one process of a run: the cell and its replicate."""
        return self.cell_id, self.replicate


class Progress(Protocol):
    """What a run tells its observer (the CLI's progress bar); every method is optional work."""

    def start(self, run_dir: Path, total: int, done: int) -> None: ...
    def status(self, text: str) -> None: ...
    def cell_started(self, cell: Cell) -> None: ...
    def cell_done(self, cell: Cell, record: dict[str, Any]) -> None: ...


class Silent:
    def start(self, run_dir, total, done): pass
    def status(self, text): pass
    def cell_started(self, cell): pass
    def cell_done(self, cell, record): pass


class RunInUse(RuntimeError):
    """Another process is running or resuming the same run folder."""


def plan(profile: Profile) -> list[Cell]:
    """The profile's cells in run order: ``replicates`` passes over the matrix, so the
    processes of one cell are spread over the run instead of sharing one stretch of its time.

    Unknown scenario, variant or adapter names raise ``KeyError`` listing the valid ones; a
    ``module:Class`` adapter is imported here, so a bad path fails before any cell runs.
    """
    registered = adapter_origins()
    for adapter in profile.adapters:
        if adapter not in registered:
            try:
                adapter_class(adapter)
            except AdapterNotFound as e:
                raise KeyError(f"profile {profile.name!r}: {e}") from None
    cells = []
    for selection in profile.cells:
        try:
            scenario = get_scenario(selection.scenario)
            for variant in selection.variants:
                scenario.variant(variant)
                cells.extend(Cell(scenario.id, variant, a) for a in profile.adapters)
        except KeyError as e:
            raise KeyError(f"profile {profile.name!r}: {e.args[0]}") from None
    return [dataclasses.replace(c, replicate=r) for r in range(profile.replicates) for c in cells]


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def run_profile(
    profile: Profile,
    output_root: Path,
    *,
    cache_root: Path | None = None,
    progress: Progress | None = None,
    trace_cell: str | None = None,
) -> Path:
    """Runs every cell of ``profile`` in a new run folder under ``output_root``; returns it.

    ``trace_cell`` (a cell id) is also run once more under the profilers (``bench.trace``).
    """
    cells = plan(profile)
    end_leftovers(output_root.glob("*"))  # cells of earlier runs whose runner and reaper died
    if trace_cell is not None and trace_cell not in {c.cell_id for c in cells}:
        raise KeyError(f"no cell {trace_cell!r} to trace in this run; valid: {', '.join(c.cell_id for c in cells)}")
    run_dir, info = new_run(profile, cells, output_root)
    with locked(run_dir):
        run_cells(run_dir, info, profile, cells, set(), cache_root, progress or Silent(), trace_cell)
    return run_dir


def new_run(profile: Profile, cells: list[Cell], output_root: Path, root: Path = PROJECT_ROOT) -> tuple[Path, dict[str, Any]]:
    """A new run folder for ``cells`` of the code at ``root``, its ``run.json`` written."""
    run_id = new_run_id()
    run_dir = output_root / run_id
    run_dir.mkdir(parents=True)
    info = {
        "run_id": run_id,
        "started_at": _now(),
        "profile": profile.to_dict(),
        "machine": machine_info(),
        "git_commit": git_commit(root),
        "versions": library_versions(),
        "cells": [dataclasses.asdict(c) for c in cells],
        "resumed": [],
    }
    write_json_atomic(run_dir / RUN_INFO, info)
    return run_dir, info


def resume_run(run_dir: Path, *, cache_root: Path | None = None, progress: Progress | None = None,
               rerun: tuple[str, ...] = ()) -> Path:
    """Runs the cells of a stored run that have no record yet, appending to the same file.

    The run's stored profile is used, so the resumed cells are measured like the first ones.
    ``rerun`` (statuses, e.g. failed, timeout): those cells' records are dropped first, so they run again.
    """
    with locked(run_dir):
        end_leftovers([run_dir])
        drop_records(run_dir / RESULTS, rerun)
        info = json.loads((run_dir / RUN_INFO).read_text())
        profile = profile_from_dict(info["profile"], source=str(run_dir / RUN_INFO))
        cells = [Cell(**c) for c in info["cells"]]
        finished = set()
        if (run_dir / RESULTS).is_file():
            finished = {(r["cell_id"], r.get("replicate", 0)) for r in load_records(run_dir / RESULTS)[0]}
        info["resumed"].append({"at": _now(), "git_commit": git_commit(), "machine": machine_info()["fingerprint"]})
        write_json_atomic(run_dir / RUN_INFO, info)
        run_cells(run_dir, info, profile, cells, finished, cache_root, progress or Silent())
    return run_dir


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    with open(run_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInUse(f"run {run_dir.name} is being run by another process") from None
        yield


def run_cells(run_dir, info, profile, cells, finished, cache_root, progress, trace_cell=None,
               root: Path = PROJECT_ROOT, extra_env: dict[str, str] | None = None) -> None:
    """Runs ``cells`` not in ``finished``, appending their records; ``root`` is the code under
    test (another checkout in an A/B run) and ``extra_env`` goes to every cell's process."""
    todo = [c for c in cells if c.key not in finished]
    progress.start(run_dir, total=len(cells), done=len(cells) - len(todo))
    cache_root = cache_root or default_cache_root()
    limits = Limits(
        timeout_s=profile.timeout_s,
        memory_limit_bytes=profile.memory_limit_mb * 2**20 if profile.memory_limit_mb else None,
    )
    env = {**child_env(profile.backend, root), **(extra_env or {})}
    ceilings = _ceilings(run_dir, info, cache_root, profile.backend, env, progress)
    context = {
        "machine": info["machine"],
        "machine_fingerprint": info["machine"]["fingerprint"],
        "git_commit": git_commit(root),
        "python": info["machine"]["python"],
        "versions": library_versions(),
    }
    (run_dir / "cells").mkdir(exist_ok=True)
    data: dict[tuple[str, str], dict[str, str]] = {}
    for cell in todo:
        scenario = get_scenario(cell.scenario)
        variant = scenario.variant(cell.variant)
        if (cell.scenario, cell.variant) not in data:
            progress.status(f"data for {cell.scenario}/{cell.variant}")
            data[cell.scenario, cell.variant], _ = ensure_data(scenario, variant, profile.seed, cache_root)
        progress.cell_started(cell)
        spec = CellSpec(
            adapter=cell.adapter,
            job={
                "scenario_id": cell.scenario,
                "variant_name": cell.variant,
                "data": data[cell.scenario, cell.variant],
                "seed": profile.seed,
                "cpu_budget": profile.cpu_budget,
                "delivery": profile.delivery,
                "platform": profile.backend,
            },
            warmup_batches=profile.warmup_batches,
            batches=profile.batches,
            min_window_s=profile.min_window_s or 0.0,
            repetitions=profile.repetitions,
            ceilings=ceilings,
        )
        stem = cell.cell_id.replace("/", "__") + (f"__r{cell.replicate}" if profile.replicates > 1 else "")
        cell_env = {**env, **scenario.child_env(variant)}  # e.g. DIST-*'s forced device count
        started, start = _now(), time.perf_counter()
        outcome = run_isolated(spec.to_json(), run_dir / "cells", stem, limits, cell_env, root)
        wall_s = time.perf_counter() - start
        if profile.consumer_step_ms and outcome["status"] == "ok":
            progress.status(f"{cell.cell_id}: against a {profile.consumer_step_ms:g} ms training step")
            outcome["metrics"].update(_consumer_phase(spec, profile.consumer_step_ms, run_dir, stem, limits, cell_env))
        record = Record(
            run_id=info["run_id"],
            cell_id=cell.cell_id,
            replicate=cell.replicate,
            profile=profile.name,
            scenario=cell.scenario,
            variant=cell.variant,
            spec_hash=scenario.spec_hash(variant),
            adapter=cell.adapter,
            adapter_version=outcome.get("adapter_version"),
            status=outcome["status"],
            reason=outcome.get("reason"),
            delivery=profile.delivery,
            device=outcome.get("device"),
            traceback=outcome.get("traceback"),
            metrics=outcome.get("metrics"),
            samples=outcome.get("samples"),
            outcomes=outcome.get("outcomes"),
            batch_size=variant.batch_size,
            cpu_budget=profile.cpu_budget,
            cpus=outcome.get("cpus"),
            **context,
            started_at=started,
            wall_s=wall_s,
        )
        if cell.cell_id == trace_cell and cell.replicate == 0:
            progress.status(f"{cell.cell_id}: tracing")
            record = dataclasses.replace(record, trace=trace.capture_if_ok(
                outcome, spec.to_json(), run_dir / "traces" / stem, run_dir, cell_env, profile.timeout_s))
        problem = record_problem(record.to_json())
        if problem:  # e.g. an adapter whose version() is not a string: the cell failed, the run goes on
            record = dataclasses.replace(record, status="failed", reason=f"the cell's outcome breaks the record schema: {problem}",
                                         metrics=None, samples=None, adapter_version=None)
        record = record.to_json()
        append_record(run_dir / RESULTS, record)
        progress.cell_done(cell, record)


def _ceilings(run_dir, info, cache_root, backend, env, progress) -> dict[str, Any] | None:
    """This machine's probed ceilings (measured once per machine and backend, then cached),
    stored in run.json; None, with the reason in run.json, when the probe fails."""
    try:
        ceilings = cached_ceilings(cache_root, backend, env, status=progress.status)
    except RuntimeError as e:
        ceilings = {"absent": str(e)}
    if "ceilings" not in info:
        info["ceilings"] = ceilings
        write_json_atomic(run_dir / RUN_INFO, info)
    return None if "absent" in ceilings else ceilings


def _consumer_phase(spec, step_ms, run_dir, stem, limits, env) -> dict[str, Any]:
    """The cell once more in a fresh process, feeding a simulated training step: its stall
    figures for the record, or why they are absent."""
    spec = dataclasses.replace(spec, phase="consumer", consumer_step_ms=step_ms)
    outcome = run_isolated(spec.to_json(), run_dir / "cells", f"{stem}__consumer", limits, env)
    if outcome["status"] != "ok":
        return {"consumer_absent": f"the consumer run {outcome['status']}: {outcome.get('reason')}"}
    return {k: v for k, v in outcome["metrics"].items() if not k.startswith("peak_")}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
