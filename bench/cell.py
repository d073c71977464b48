"""One benchmark cell, run as ``python -m bench.cell SPEC OUT`` in a fresh process.

The parent hands over a JSON spec; this process loads the adapter, measures, and writes one
JSON outcome to OUT (atomically). A crash, a hang or a kill leaves no OUT, and the parent
records the failure. Memory is watched by the parent; this process reports only what the
kernel kept for it (high-water marks) and the CPU time of its process tree.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from bench.records import CellSpec
from bench.store import write_json_atomic


def die_with_parent(parent: int) -> None:
    """Linux: a killed runner takes its cell down with it instead of leaving it running (the
    cell's workers are ended by its reaper, ``bench.reaper``)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def pin_cpus(budget: int) -> list[int] | None:
    """Restricts this process (and the workers it starts) to ``budget`` CPUs."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))[:budget]
    os.sched_setaffinity(0, cpus)
    return cpus


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """The cell's measurement, or in the ``consumer`` phase its run against a
    simulated training step (a separate process, so the main figures never include it)."""
    from adapters import load_adapter
    from bench.machine import stolen_cpu_seconds
    from bench.measure import NonConformant, measure, summarize
    from bench.proctree import ProcessTree, own_tree_cpu_seconds
    from bench.roofline import input_bytes_per_element, roofline_metrics, step_cost

    cell = CellSpec.from_json(spec)
    outcome: dict[str, Any] = {"adapter_version": None}
    adapter = load_adapter(cell.adapter)
    reason = adapter.available()
    if reason:
        return {**outcome, "status": "unavailable", "reason": reason}
    outcome["adapter_version"] = adapter.version()
    try:  # the loader library's import, before any clock (datarax is imported by version())
        adapter.load()
    except ImportError as e:
        return {**outcome, "status": "unavailable", "reason": f"installed but not importable: {e}"}
    job = cell.make_job()
    scenario, variant = job.scenario, job.variant
    reason = adapter.supports(scenario, variant)
    if reason:
        return {**outcome, "status": "unsupported", "reason": reason}
    delivery = _delivery_point(job)
    outcome["device"] = delivery.label
    setup_s = prepare_untimed(adapter, job)  # format conversion, before any clock the metrics read
    if cell.phase == "consumer":
        return {**outcome, **_run_consumer(adapter, job, cell, delivery)}
    tree = ProcessTree(os.getpid())
    sample_seed = secrets.randbits(32)  # which timed batches are checked: unknowable to the loader
    try:
        raw = measure(
            lambda: adapter.open(job),
            check=lambda batch: scenario.check_batch(variant, batch, job.arrays()),
            warmup_batches=cell.warmup_batches,
            batches=cell.batches,
            repetitions=cell.repetitions,
            cpu_clock=lambda: own_tree_cpu_seconds(tree),
            min_window_s=cell.min_window_s,
            steal_clock=stolen_cpu_seconds,
            delivery=delivery,
            sample_seed=sample_seed,
        )
        sampling = _sampling(adapter, job, delivery)
        cost = step_cost(adapter, job)  # after timing: a compilation here costs nothing measured
        outcomes = scenario.outcomes(adapter, job)  # outcome scenarios (PR-*, ...); None for most
    except NonConformant as e:
        return {**outcome, "status": "non-conformant", "reason": str(e)}
    finally:
        outcome["peak_rss_of_one_bytes"] = tree.peak_rss_of_one()
        adapter.close()
    metrics = summarize(raw, variant.batch_size)
    metrics["setup_s"] = setup_s
    metrics["conformance_s"] = raw["conformance_s"] + sampling.pop("sampling_check_s", 0.0)
    metrics.update(sampling, timed_sample_seed=sample_seed)
    metrics["window_min_batches"], metrics["window_min_s"] = cell.batches, cell.min_window_s
    metrics.update(roofline_metrics(
        metrics, batch_size=variant.batch_size, input_bytes=input_bytes_per_element(job.arrays(), variant.num_records),
        cost=cost, ceilings=cell.ceilings,
    ))
    return {
        **outcome,
        "status": "ok",
        "reason": None,
        "metrics": metrics,
        "samples": {"batch_latency_s": raw["latencies_s"]},
        **({"outcomes": outcomes} if outcomes is not None else {}),
    }


def _delivery_point(job):
    """Where the cell's batches count as delivered: the job's device(s), or host arrays."""
    from bench.conformance import HOST, DeliveryPoint

    return DeliveryPoint.on(job.sharding()) if job.on_device else HOST


def _sampling(adapter, job, delivery) -> dict[str, Any]:
    """The scenario's sampling check over a fresh iterator's first batches (untimed): its
    seconds, or why it did not run. Raises NonConformant when the check finds a problem."""
    from bench.conformance import sampling_pass

    count = job.scenario.sampling_batches(job.variant)
    if count <= 0:
        return {"sampling_check_absent": f"{job.scenario_id} has no sampling check: its records carry no ids, "
                                         "or its epochs are not passes over the records"}
    check = lambda batches: job.scenario.check_sampling(job.variant, batches, job.arrays())  # noqa: E731
    return {"sampling_check_s": sampling_pass(lambda: adapter.open(job), count, check, delivery),
            "sampling_check_batches": count}


def prepare_untimed(adapter, job) -> float:
    """Runs ``adapter.prepare(job)`` (untimed by the metrics) and returns its wall time."""
    import time

    start = time.perf_counter()
    adapter.prepare(job)
    return time.perf_counter() - start


def _run_consumer(adapter, job, cell: CellSpec, delivery) -> dict[str, Any]:
    from bench.consumer import run_consumer, summarize_consumer
    from bench.measure import NonConformant

    target_s = cell.consumer_step_ms / 1e3
    try:
        raw = run_consumer(
            lambda: adapter.open(job), target_s=target_s, warmup_batches=cell.warmup_batches,
            batches=cell.batches, repetitions=cell.repetitions, delivery=delivery,
        )
    except NonConformant as e:
        return {"status": "non-conformant", "reason": str(e)}
    finally:
        adapter.close()
    return {"status": "ok", "reason": None, "metrics": summarize_consumer(raw, target_s)}


def main(argv: list[str]) -> int:
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    die_with_parent(spec["parent_pid"])
    cpus = pin_cpus(spec["job"]["cpu_budget"])
    from bench.multiprocess import process_count, run_processes

    try:  # a scenario across JAX processes (DIST-3): this process supervises them
        outcome = (run_processes(spec, cpus, out_path.parent, out_path.name.removesuffix(".out.json"))
                   if process_count(spec) > 1 else run_cell(spec))
    except BaseException as e:  # noqa: BLE001 - everything the loader raises is the cell's failure
        outcome = {
            "status": "failed",
            "reason": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(),
        }
    from bench.proctree import own_peak_rss_of_one

    outcome["peak_rss_of_one_bytes"] = max(outcome.get("peak_rss_of_one_bytes", 0), own_peak_rss_of_one())
    outcome["cpus"] = cpus
    write_json_atomic(out_path, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
