"""Test helpers: the first batches an adapter yields for a scenario variant, and deliberately wrong
adapters (each breaks one kind of check) built on the NumPy baseline."""

from __future__ import annotations

import itertools

import numpy as np

from adapters import Job
from adapters.numpy_adapter import NumpyAdapter
from bench.datacache import ensure_data
from scenarios import Transform, get_scenario


def job_for(scenario_id: str, variant: str, root, seed: int = 0) -> Job:
    scenario = get_scenario(scenario_id)
    paths, _ = ensure_data(scenario, scenario.variant(variant), seed, root)
    # Host delivery: the wrong adapters below edit the NumPy baseline's batches in place, and
    # what these tests judge is the scenario's check (delivery is tested in tests/adapters).
    return Job(scenario_id, variant, paths, seed=seed, cpu_budget=1, delivery="host")


def first_problem(adapter, job: Job, batches: int = 2) -> str | None:
    """The scenario's verdict on the adapter's first ``batches`` batches (None: conformant)."""
    scenario, variant, inputs = job.scenario, job.variant, job.arrays()
    try:
        seen = 0
        for batch in itertools.islice(adapter.open(job), batches):
            seen += 1
            problem = scenario.check_batch(variant, {k: np.asarray(v) for k, v in batch.items()}, inputs)
            if problem:
                return problem
        return None if seen == batches else f"the loader stopped after {seen} of {batches} batches"
    finally:
        adapter.close()


class WrongTransforms(NumpyAdapter):
    """The NumPy baseline running ``patch(transforms)`` instead of the scenario's own."""

    def __init__(self, patch):
        self._patch = patch

    def transforms(self, job):
        return self._patch(super().transforms(job))


def replace_param(name: str, key: str, value):
    """A patch setting parameter ``key`` of the first transform ``name`` to ``value``."""

    def patch(transforms):
        out, done = [], False
        for t in transforms:
            if t.name == name and not done:
                t, done = Transform.of(t.name, **{**dict(t.params), key: value}), True
            out.append(t)
        return tuple(out)

    return patch


class Rewrite(NumpyAdapter):
    """The NumPy baseline with ``edit(batch)`` applied to every batch it yields."""

    def __init__(self, edit):
        self._edit = edit

    def open(self, job):
        for batch in super().open(job):
            yield self._edit(dict(batch))
