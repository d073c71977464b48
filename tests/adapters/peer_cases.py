"""What the stream-peer test files (test_ray.py, test_spdl.py, ...) check, once for every peer.

``conformant`` runs a scenario's small variant through an adapter as the harness's conformance
pass does (device delivery, every batch checked with the stored inputs, the sampling check
over two epochs of a fresh iterator); ``resumes`` runs PR-1's outcomes;
``sharded_in_child`` runs a DIST variant's outcomes in a child process that has the variant's
forced CPU devices (this process has one).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from adapters import Job
from bench.datacache import ensure_data
from bench.measure import materialize, to_host
from scenarios import get_scenario

BATCHES = 3


def job_for(scenario_id: str, variant: str, root, *, delivery: str = "device", seed: int = 0) -> Job:
    scenario = get_scenario(scenario_id)
    paths, _ = ensure_data(scenario, scenario.variant(variant), seed, Path(root))
    return Job(scenario_id, variant, paths, seed=seed, cpu_budget=2, delivery=delivery)


def take(adapter, job: Job, count: int) -> list[dict[str, np.ndarray]]:
    """The first ``count`` batches of a fresh iterator, on the host (each a full batch)."""
    iterator = adapter.open(job)
    try:
        out = []
        for batch in itertools.islice(iterator, count):
            assert materialize(batch)[0] == job.variant.batch_size
            out.append(to_host(batch))
        return out
    finally:
        getattr(iterator, "close", lambda: None)()


def conformant(adapter, job: Job, batches: int = BATCHES) -> None:
    """Raises AssertionError unless the adapter does ``job``'s whole work, checked."""
    import jax

    scenario, variant, inputs = job.scenario, job.variant, job.arrays()
    assert adapter.supports(scenario, variant) is None, adapter.supports(scenario, variant)
    iterator = adapter.open(job)
    try:
        for batch in itertools.islice(iterator, batches):
            for field, leaf in batch.items():
                assert isinstance(leaf, jax.Array), (field, type(leaf))
            problem = scenario.check_batch(variant, to_host(batch), inputs)
            assert problem is None, f"{scenario.id}/{variant.name}: {problem}"
    finally:
        getattr(iterator, "close", lambda: None)()
    sampled = adapter.open(job)
    try:
        stream = (to_host(b) for b in itertools.islice(sampled, scenario.sampling_batches(variant)))
        problem = scenario.check_sampling(variant, stream, inputs)
        assert problem is None, f"{scenario.id}/{variant.name} sampling: {problem}"
    finally:
        getattr(sampled, "close", lambda: None)()


def resumes(adapter, job: Job) -> dict:
    """PR-1's measured outcomes; asserts the resumed stream equals the uninterrupted one."""
    outcomes = job.scenario.outcomes(adapter, job)
    assert outcomes["resumed_identical"], outcomes
    assert outcomes["state_bytes"] > 0
    return outcomes


def sharded_in_child(adapter_name: str, scenario_id: str, variant: str, root) -> dict:
    """A DIST variant's outcomes (sharding checked by the scenario) from a child process with
    the variant's forced CPU devices, plus the first batch's row check."""
    scenario = get_scenario(scenario_id)
    ensure_data(scenario, scenario.variant(variant), 0, root)
    code = textwrap.dedent(f"""
        import json, sys
        from adapters import load_adapter
        from bench.measure import to_host
        from tests.adapters.peer_cases import job_for
        job = job_for({scenario_id!r}, {variant!r}, {str(root)!r})
        adapter = load_adapter({adapter_name!r})
        assert adapter.supports(job.scenario, job.variant) is None, adapter.supports(job.scenario, job.variant)
        iterator = adapter.open(job)
        problem = job.scenario.check_batch(job.variant, to_host(next(iterator)), job.arrays())
        iterator.close()
        outcomes = job.scenario.outcomes(adapter, job)
        adapter.close()
        print("RESULT" + json.dumps({{"problem": problem, **outcomes}}))
    """)
    env = {**os.environ, **scenario.child_env(scenario.variant(variant)), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT"))
    assert result.pop("problem") is None, result
    return result
