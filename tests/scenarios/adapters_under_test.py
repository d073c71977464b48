"""Test helpers: the verdicts of a scenario's checks on an adapter (its first batches, its
sampling over two epochs), and deliberately wrong adapters built on the NumPy baseline, each
breaking one kind of check."""

from __future__ import annotations

import dataclasses
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


def sampling_verdict(adapter, job: Job) -> str | None:
    """The scenario's sampling check on the adapter's fresh iterator (None: conformant)."""
    scenario, variant = job.scenario, job.variant
    iterator = adapter.open(job)
    try:
        batches = ({k: np.asarray(v) for k, v in b.items()}
                   for b in itertools.islice(iterator, scenario.sampling_batches(variant)))
        return scenario.check_sampling(variant, batches, job.arrays())
    finally:
        iterator.close()
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


class NoShuffle(NumpyAdapter):
    """The NumPy baseline reading every epoch in stored order."""

    def open(self, job):
        return super().open(dataclasses.replace(job, shuffle=False))


class AugmentThenCache(NumpyAdapter):
    """The NumPy baseline with its output cached per record after the random work (tf.data's
    ``map(augment).cache()`` mistake): every later epoch replays the first epoch's draws."""

    def open(self, job):
        cache: dict[int, dict[str, np.ndarray]] = {}
        for batch in super().open(job):
            batch = {k: np.array(v) for k, v in batch.items()}
            for row, record in enumerate(np.asarray(batch["index"]).tolist()):
                if record in cache:
                    for name, value in cache[record].items():
                        batch[name][row] = value
                else:
                    cache[record] = {name: value[row].copy() for name, value in batch.items()}
            yield batch


# Transforms whose statistics the spec fixes as constants; a loader using the batch's own
# statistics instead breaks each of them.
FIXED_STATISTICS = ("normalize", "standardize")


def batch_statistics(job: Job):
    """An edit standardizing the float fields with the batch's own per-channel mean and
    standard deviation, as a loader would that ignored the spec's constants; None where the
    scenario fixes no statistics. (Both are affine per channel, so standardizing the output
    equals standardizing the input with the batch's statistics.)"""
    if not {t.name for t in job.scenario.transforms(job.variant)} & set(FIXED_STATISTICS):
        return None
    floats = [f.name for f in job.scenario.output_fields(job.variant)
              if np.dtype(f.dtype).kind == "f" and f.name != "label" and len(f.shape) >= 1]

    def edit(batch):
        for name in floats:
            x = np.asarray(batch[name], np.float32)
            over = tuple(range(x.ndim - 1))
            batch[name] = ((x - x.mean(axis=over)) / (x.std(axis=over) + 1e-6)).astype(np.float32)
        return batch

    return edit
