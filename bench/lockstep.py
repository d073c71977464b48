"""One JAX process of a multi-process cell, run as ``python -m bench.lockstep SPEC OUT``.

``bench.multiprocess`` starts one per process with the cell's spec, a process index and its
CPUs. It joins ``jax.distributed`` before anything else touches JAX, then measures in
lockstep with its peers: every process takes the same number of batches, in windows sized by
batch count alone (a window extended until it has lasted long enough would end at a different
batch in each process, and the collectives that follow would wait forever), with a barrier
before each window. Checks gather the global batch, so every process runs them at the same
point. It writes one JSON outcome to OUT, atomically, and reports its phase to a progress
file that the supervisor reads to tell a stuck process from a slow one.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from bench.multiprocess import STARTUP_S
from bench.store import write_json_atomic

INIT_TIMEOUT_S = 60  # joining a coordinator on this host; a launcher's spec may give more


class Progress:
    """The worker's phase, written atomically as ``{"step", "phase", "limit_s", "pid"}``."""

    def __init__(self, path: Path):
        self.path, self.step = path, 0

    def __call__(self, phase: str, limit_s: float | None = None) -> None:
        self.step += 1
        write_json_atomic(self.path, {"step": self.step, "phase": phase, "limit_s": limit_s, "pid": os.getpid()})


def initialize(spec: dict[str, Any], progress: Progress) -> None:
    """CPU collectives over gloo, and ``jax.distributed`` when the job has several processes."""
    import jax

    try:  # gloo is jax 0.10's default already: set so the cell does not rest on a default
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):  # a JAX without the option: its own CPU collectives
        pass
    job = spec["job"]
    if job["process_count"] == 1:
        return
    timeout = int(spec.get("init_timeout_s", INIT_TIMEOUT_S))
    progress(f"joining coordinator {spec['coordinator']} as process {job['process_index']} of "
             f"{job['process_count']}", limit_s=timeout + 30)
    jax.distributed.initialize(coordinator_address=spec["coordinator"], num_processes=job["process_count"],
                               process_id=job["process_index"], initialization_timeout=timeout)


def barrier(name: str, progress: Callable[[str], None]) -> None:
    """Waits until every process reaches ``name`` (reported first, so a process waiting here
    reads as ahead of the one it waits for)."""
    from jax.experimental import multihost_utils

    progress(f"waiting for every process before {name}")
    multihost_utils.sync_global_devices(name)


def measure_lockstep(
    open_iterator: Callable[[], Iterator[dict[str, Any]]],
    *,
    check: Callable[[dict[str, Any]], str | None],
    warmup_batches: int,
    batches: int,
    repetitions: int,
    cpu_clock: Callable[[], float],
    steal_clock: Callable[[], float | None],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """``bench.measure.measure``'s raw samples, taken in lockstep across the processes.

    ``check(batch)`` is collective (it gathers the global batch); it runs on the first batch
    and on the last timed one. A batch whose fields, shapes or dtypes differ from the first's
    raises NonConformant (global shapes: the same in every process).
    """
    from bench.conformance import NonConformant, signature
    from bench.measure import WARM_OPENS, close_iterator, next_batch

    def wait_ready(batch):  # global device arrays (every process's devices), waited on
        for leaf in batch.values():
            leaf.block_until_ready()

    start = time.perf_counter()
    iterator = open_iterator()
    first = next_batch(iterator)
    wait_ready(first)
    ttfb_cold = time.perf_counter() - start
    progress("checking the first global batch")
    problem = check(first)
    if problem:
        close_iterator(iterator)
        raise NonConformant(problem)
    expected, bytes_per_batch = signature(first), sum(int(leaf.nbytes) for leaf in first.values())
    del first
    progress("warm-up")
    for _ in range(warmup_batches - 1):
        wait_ready(next_batch(iterator))
    gc.collect()
    latencies, steals, cpu_seconds = [], [], 0.0
    for r in range(repetitions):
        barrier(f"window {r + 1} of {repetitions}", progress)
        progress(f"window {r + 1} of {repetitions}")
        rep: list[float] = []
        steal_start, cpu_start = steal_clock(), cpu_clock()
        previous = time.perf_counter()
        for _ in range(batches):
            batch = next_batch(iterator)
            wait_ready(batch)
            rep.append(time.perf_counter() - previous)
            if signature(batch) != expected:
                close_iterator(iterator)
                raise NonConformant(f"a timed batch has {signature(batch)}, the first had {expected}")
            previous = time.perf_counter()
        cpu_seconds += cpu_clock() - cpu_start
        steal_end = steal_clock()
        steals.append(None if steal_start is None or steal_end is None else steal_end - steal_start)
        latencies.append(rep)
    progress("checking the last timed global batch")
    problem = check(batch)
    close_iterator(iterator)
    del iterator, batch
    if problem:
        raise NonConformant(f"a timed batch: {problem}")
    warm = []
    for i in range(WARM_OPENS):
        barrier(f"warm open {i + 1} of {WARM_OPENS}", progress)
        progress(f"warm open {i + 1} of {WARM_OPENS}")
        gc.collect()
        start = time.perf_counter()
        iterator = open_iterator()
        wait_ready(next_batch(iterator))
        warm.append(time.perf_counter() - start)
        close_iterator(iterator)
    return {"ttfb_cold_s": ttfb_cold, "ttfb_warm_s": warm, "latencies_s": latencies,
            "bytes_per_batch": bytes_per_batch, "cpu_seconds": cpu_seconds,
            "stolen_cpu_seconds": None if None in steals else sum(steals), "stage_times": {}}


def gather_raw(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Every process's raw samples, on every process (a collective), in process order."""
    from scenarios.multiprocess import gather

    scalars = ("ttfb_cold_s", "cpu_seconds")
    fields = {k: np.asarray(raw[k], np.float64).reshape(-1 if k in scalars else np.shape(raw[k]))
              for k in (*scalars, "ttfb_warm_s", "latencies_s")}
    stacked = {k: np.asarray(v).reshape(-1, *fields[k].shape) for k, v in gather(fields).items()}
    return [{**raw, **{k: v[p][0].item() if k in scalars else v[p].tolist() for k, v in stacked.items()}}
            for p in range(len(stacked["cpu_seconds"]))]


def run_process(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """This process's part of the cell: the lockstep measurement, then the scenario's
    (collective) outcomes; every process's raw samples come back in each one's result."""
    from adapters import Job, load_adapter
    from bench.cell import prepare_untimed
    from bench.machine import stolen_cpu_seconds
    from bench.measure import NonConformant
    from bench.proctree import ProcessTree, own_tree_cpu_seconds
    from scenarios.multiprocess import MultiProcessMismatch

    adapter = load_adapter(spec["adapter"])
    outcome: dict[str, Any] = {"adapter_version": adapter.version()}
    try:
        adapter.load()
    except ImportError as e:
        return {**outcome, "status": "unavailable", "reason": f"installed but not importable: {e}"}
    job = Job(**spec["job"])
    scenario, variant, inputs = job.scenario, job.variant, job.arrays()
    progress("preparing")
    setup_s = prepare_untimed(adapter, job)
    tree = ProcessTree(os.getpid())
    progress("opening the first iterator")
    try:
        raw = measure_lockstep(
            lambda: adapter.open(job), check=lambda batch: scenario.global_problem(variant, batch, inputs),
            warmup_batches=spec["warmup_batches"], batches=spec["batches"], repetitions=spec["repetitions"],
            cpu_clock=lambda: own_tree_cpu_seconds(tree), steal_clock=stolen_cpu_seconds, progress=progress)
        progress("outcomes: an epoch's shards and global batch")
        outcomes = scenario.outcomes(adapter, job)
        progress("gathering every process's samples")
        by_process = gather_raw(raw)
    except (NonConformant, MultiProcessMismatch) as e:
        return {**outcome, "status": "non-conformant", "reason": str(e)}
    finally:
        adapter.close()
    return {**outcome, "status": "ok", "reason": None, "setup_s": setup_s, "raw_by_process": by_process,
            "outcomes": outcomes, "cpus": sorted(os.sched_getaffinity(0))}


def main(argv: list[str]) -> int:
    from bench.cell import die_with_parent
    from bench.proctree import own_peak_rss_of_one

    spec, out_path = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    die_with_parent(spec["parent_pid"])
    os.sched_setaffinity(0, spec["cpus"])
    progress = Progress(Path(spec["progress"]))
    progress("starting", limit_s=STARTUP_S)
    try:
        initialize(spec, progress)
        outcome = run_process(spec, progress)
    except BaseException as e:  # noqa: BLE001 - everything the loader raises is the cell's failure
        outcome = {"status": "failed", "reason": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    outcome["peak_rss_of_one_bytes"] = own_peak_rss_of_one()
    write_json_atomic(out_path, outcome)
    progress("done")
    sys.stdout.flush()
    sys.stderr.flush()
    if outcome["status"] == "ok" and spec["job"]["process_count"] > 1:
        import jax

        jax.distributed.shutdown()  # a barrier: the supervisor ends a process stuck in it
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
