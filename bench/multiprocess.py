"""A cell whose scenario runs across several JAX processes (DIST-3): start them, watch them, merge.

``bench.cell`` hands over here when the scenario declares more than one process. On one host
the cell spawns every process (``python -m bench.lockstep``) with the same spec, a process
index and its share of the cell's CPUs, and process 0 hosts the coordinator on a free
loopback port. Launched across nodes (sky/multihost.yaml), a launcher names the coordinator
and this host's process in the environment (``DATARAX_COORDINATOR``, ``DATARAX_PROCESS_ID``,
``DATARAX_NUM_PROCESSES``), and the cell spawns only its own process, which joins it.

A process that dies, fails, or stops making progress fails the cell with its reason at once:
the others would wait for it in their next collective, so they are killed (no orphan
survives: they die with this process too). When all succeed, the same work is measured once
more by a single process with every device and CPU of the cell (the throughput reference).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from bench.store import write_json_atomic

COORDINATOR_ENV, PROCESS_ID_ENV, NUM_PROCESSES_ENV = "DATARAX_COORDINATOR", "DATARAX_PROCESS_ID", "DATARAX_NUM_PROCESSES"
STARTUP_S = 120  # importing JAX and the harness: slow on a loaded machine, never in lockstep
STALL_S = 120.0  # a phase that lasts longer (unless it names its own limit) is a hung process
LAUNCHER_INIT_TIMEOUT_S = 900  # nodes of a launch start their cells at different times
EXIT_GRACE_S = 10.0
POLL_S = 0.05  # results and deaths
STALL_CHECK_S = 1.0  # progress files


def process_count(spec: dict[str, Any]) -> int:
    """How many JAX processes the cell's scenario variant runs across (no JAX imported)."""
    from scenarios import get_scenario
    from scenarios.multiprocess import processes

    job = spec["job"]
    return processes(get_scenario(job["scenario_id"]).variant(job["variant_name"]))


def run_processes(spec: dict[str, Any], cpus: list[int] | None, cell_dir: Path, stem: str) -> dict[str, Any]:
    """The cell's outcome: every process's part, merged, and the one-process reference."""
    from adapters import load_adapter
    from scenarios import get_scenario

    adapter = load_adapter(spec["adapter"])
    scenario = get_scenario(spec["job"]["scenario_id"])
    variant = scenario.variant(spec["job"]["variant_name"])
    reason = adapter.available()
    if reason:
        return {"adapter_version": None, "status": "unavailable", "reason": reason}
    reason = adapter.supports(scenario, variant)
    if reason:
        return {"adapter_version": None, "status": "unsupported", "reason": reason}
    if spec.get("phase") == "consumer":
        return {"adapter_version": None, "status": "unsupported",
                "reason": "the simulated training step runs in one process; it is not run across processes"}
    cpus = cpus or sorted(os.sched_getaffinity(0))
    try:
        plan = _plan(spec, process_count(spec), cpus)
    except ValueError as e:
        return {"adapter_version": None, "status": "failed", "reason": str(e)}
    stall_s = float(spec.get("stall_timeout_s", STALL_S))
    results = _run_group(plan, cell_dir, stem, os.environ.copy(), stall_s)
    if isinstance(results, dict):  # a failure
        return results
    reference = {**spec, "job": {**spec["job"], "process_index": 0, "process_count": 1, "cpu_budget": len(cpus)},
                 "cpus": cpus, "coordinator": None}
    env = {**os.environ, **scenario.reference_env(variant)}
    single = _run_group([reference], cell_dir, f"{stem}.one-process", env, stall_s)
    if isinstance(single, dict):
        return {**single, "reason": f"the one-process reference run: {single['reason']}"}
    return merge(spec, results, single[0])


def merge(spec: dict[str, Any], results: list[dict[str, Any]], single: dict[str, Any]) -> dict[str, Any]:
    """The cell's outcome from its processes' results (each holds every process's samples)
    and the one-process reference's. A step's latency is its slowest process's (a training
    step waits for every process's rows); CPU seconds add up; the machine's stolen CPU time
    is read by one process (this host's, across nodes)."""
    from adapters import Job
    from bench.measure import summarize
    from bench.roofline import input_bytes_per_element, roofline_metrics

    job = Job(**spec["job"])
    batch_size, raws = job.variant.batch_size, results[0]["raw_by_process"]
    merged = {
        "ttfb_cold_s": max(r["ttfb_cold_s"] for r in raws),
        "ttfb_warm_s": [max(opens) for opens in zip(*(r["ttfb_warm_s"] for r in raws))],
        "latencies_s": [[max(step) for step in zip(*windows)] for windows in zip(*(r["latencies_s"] for r in raws))],
        "bytes_per_batch": raws[0]["bytes_per_batch"],
        "cpu_seconds": sum(r["cpu_seconds"] for r in raws),
        "stolen_cpu_seconds": raws[0]["stolen_cpu_seconds"],
    }
    metrics = summarize(merged, batch_size)
    metrics.update(setup_s=max(r["setup_s"] for r in results), window_min_batches=spec["batches"], window_min_s=0.0)
    metrics.update(roofline_metrics(
        metrics, batch_size=batch_size, input_bytes=input_bytes_per_element(job.arrays(), job.variant.num_records),
        cost="XLA's cost analysis covers one process's compiled step; a step across processes is not analysed",
        ceilings=spec.get("ceilings")))
    alone = summarize(single["raw_by_process"][0], batch_size)["elements_per_s"]
    rate, count = metrics["elements_per_s"], len(raws)
    outcomes = {
        **results[0]["outcomes"],
        **{f"process{p}_elements_per_s": summarize(r, batch_size // count)["elements_per_s"] for p, r in enumerate(raws)},
        "cpus_per_process": len(results[0]["cpus"]), "one_process_elements_per_s": alone,
        "speedup_vs_one_process": rate / alone, "scaling_efficiency": rate / alone / count,
    }
    return {"adapter_version": results[0]["adapter_version"], "status": "ok", "reason": None, "metrics": metrics,
            "samples": {"batch_latency_s": merged["latencies_s"]}, "outcomes": outcomes,
            "peak_rss_of_one_bytes": max(r["peak_rss_of_one_bytes"] for r in [*results, single])}


def _plan(spec: dict[str, Any], count: int, cpus: list[int]) -> list[dict[str, Any]]:
    """One worker spec per process this host runs: all of them (on this host, each with its
    share of the CPUs), or the one a launcher assigned to this host."""
    job = spec["job"]
    external = os.environ.get(COORDINATOR_ENV)
    if external:
        try:
            index, launched = int(os.environ[PROCESS_ID_ENV]), int(os.environ[NUM_PROCESSES_ENV])
        except (KeyError, ValueError):
            raise ValueError(f"{COORDINATOR_ENV}={external!r} needs integer {PROCESS_ID_ENV} and {NUM_PROCESSES_ENV}") from None
        if launched != count:
            raise ValueError(f"{job['scenario_id']}/{job['variant_name']} runs {count} processes; the launcher "
                             f"started {launched} ({NUM_PROCESSES_ENV})")
        if not 0 <= index < count:
            raise ValueError(f"{PROCESS_ID_ENV}={index} is outside [0, {count})")
        return [{**spec, "job": {**job, "process_index": index, "process_count": count}, "cpus": cpus,
                 "coordinator": _cell_address(external, spec), "init_timeout_s": LAUNCHER_INIT_TIMEOUT_S}]
    share = len(cpus) // count
    if share < 1:
        raise ValueError(f"{job['scenario_id']}/{job['variant_name']} runs {count} processes, one CPU each at "
                         f"least; the cell has {len(cpus)} CPU(s) ({cpus}): raise the profile's cpu_budget")
    address = f"127.0.0.1:{_free_port()}"
    return [{**spec, "job": {**job, "process_index": i, "process_count": count, "cpu_budget": share},
             "cpus": cpus[i * share:(i + 1) * share], "coordinator": address} for i in range(count)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cell_address(coordinator: str, spec: dict[str, Any]) -> str:
    """The launcher's ``host:port`` with a port per cell (base + 0…999 from the cell's identity):
    every node derives the same one, and no cell meets the previous cell's coordinator."""
    host, _, base = coordinator.rpartition(":")
    if not host or not base.isdigit():
        raise ValueError(f"{COORDINATOR_ENV}={coordinator!r}: expected host:port")
    job = spec["job"]
    cell = f"{job['scenario_id']}/{job['variant_name']}/{spec['adapter']}".encode()
    return f"{host}:{int(base) + zlib.crc32(cell) % 1000}"


class _Worker:
    def __init__(self, spec: dict[str, Any], cell_dir: Path, name: str, env: dict[str, str]):
        self.index = spec["job"]["process_index"]
        self.spec_path, self.out = cell_dir / f"{name}.json", cell_dir / f"{name}.out.json"
        self.log, self.progress = cell_dir / f"{name}.log", cell_dir / f"{name}.progress.json"
        for path in (self.out, self.progress):
            path.unlink(missing_ok=True)
        write_json_atomic(self.spec_path, {**spec, "parent_pid": os.getpid(), "progress": str(self.progress)})
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bench.lockstep", str(self.spec_path), str(self.out)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.started = time.monotonic()

    def result(self) -> dict[str, Any] | None:
        return json.loads(self.out.read_text()) if self.out.is_file() else None

    def phase(self) -> tuple[int, str, float | None, float]:
        """``(step, phase, its limit, seconds since it began)`` from the progress file."""
        try:
            report, changed = json.loads(self.progress.read_text()), self.progress.stat().st_mtime
        except (OSError, ValueError):
            return 0, "starting Python", STARTUP_S, time.monotonic() - self.started
        return report["step"], report["phase"], report.get("limit_s"), max(0.0, time.time() - changed)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def _run_group(specs, cell_dir: Path, stem: str, env: dict[str, str], stall_s: float):
    """Runs the workers to the end: their results in process order, or the first failure. A
    process of a group writes ``<stem>.process<i>.*`` files; the lone reference ``<stem>.*``."""
    def name(spec):
        return f"{stem}.process{spec['job']['process_index']}" if spec["coordinator"] else stem

    workers = [_Worker(spec, cell_dir, name(spec), env) for spec in specs]
    try:
        return _watch(workers, stall_s)
    finally:
        for w in workers:
            w.kill()


def _watch(workers: list[_Worker], stall_s: float):
    done_at, stall_checked = None, time.monotonic()
    while True:
        results = {w.index: w.result() for w in workers}
        # A death first: the peers of a killed process fail next (a closed collective), and
        # the cause, not its echo, is the cell's reason.
        for w in workers:
            if results[w.index] is None and w.proc.poll() is not None and w.result() is None:
                from bench.isolation import _death_reason

                return {"adapter_version": None, "status": "failed",
                        "reason": f"process {w.index} died: {_death_reason(w.proc.returncode, w.log)}"}
        for w in workers:
            result = results.pop(w.index)
            if result is not None:
                if result["status"] != "ok":
                    return {**result, "reason": f"process {w.index}: {result['reason']}"}
                results[w.index] = result
        if len(results) == len(workers):
            done_at = done_at or time.monotonic()
            if all(w.proc.poll() is not None for w in workers) or time.monotonic() - done_at > EXIT_GRACE_S:
                return [results[w.index] for w in sorted(workers, key=lambda w: w.index)]
        elif time.monotonic() - stall_checked > STALL_CHECK_S:  # reads every progress file: not every poll
            stall_checked = time.monotonic()
            stuck = _stuck(workers, results, stall_s)
            if stuck:
                return {"adapter_version": None, "status": "failed", "reason": stuck}
        time.sleep(POLL_S)


def _stuck(workers: list[_Worker], results: dict, stall_s: float) -> str | None:
    """Why the group is hung, or None: a process without a result has stayed in one phase past
    its limit. The processes furthest behind are named first (the others wait for them)."""
    phases = {w.index: w.phase() for w in workers if w.index not in results}
    over = {i: p for i, p in phases.items() if p[3] > (p[2] or stall_s)}
    if not over:
        return None
    behind = min(p[0] for p in phases.values())
    order = sorted(phases, key=lambda i: (phases[i][0] != behind, i))
    where = "; ".join(f"process {i} in '{phases[i][1]}' for {phases[i][3]:.0f} s" for i in order)
    culprit = order[0]
    return (f"process {culprit} made no progress for {phases[culprit][3]:.0f} s (limit "
            f"{phases[culprit][2] or stall_s:g} s), so the group was stopped: {where}")
