"""The baseline a hand-written loop gives: shuffle, gather by index, vectorized NumPy transforms.

Delivery: NumPy has no device of its own, so batches go through the shared overlapped
``jax.device_put`` (``adapters._delivery``), as a hand-written JAX input loop would.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from adapters._delivery import deliver
from adapters.base import Adapter, Job
from scenarios import Scenario, Variant
from scenarios.reference import REFERENCE, apply_transforms
from scenarios.reference.text import ragged_rows


# Scenario capabilities a hand-written NumPy loop has no counterpart for, and why.
_DECLINED = {
    "differentiable_pipeline": "no differentiable pipeline: NumPy transforms have no gradients to train parameters with",
    "device_sharding": "no devices: a NumPy batch cannot be a global array sharded over a device mesh",
}


class NumpyAdapter(Adapter):
    name = "numpy"

    def version(self) -> str:
        return np.__version__

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        declined = sorted(scenario.capabilities & _DECLINED.keys())
        if declined:
            return _DECLINED[declined[0]]
        missing = [t.name for t in scenario.transforms(variant) if t.name not in REFERENCE]
        if missing:
            return f"no NumPy implementation of {missing}"
        if "checkpoint" in scenario.capabilities:
            return "the NumPy baseline is a plain generator: it has no iterator state to save and resume"
        backend = dict(variant.params).get("backend", "npy")
        if backend not in ("npy", "memory"):
            return f"the NumPy baseline reads only .npy files (memory-mapped or loaded), not {backend!r}"
        return None

    def transforms(self, job: Job) -> tuple:
        """The work applied to each batch: the scenario's transforms, in order."""
        return job.scenario.transforms(job.variant)

    def open(self, job: Job) -> Iterator[dict]:
        return deliver(self._batches(job), job)

    def _batches(self, job: Job) -> Iterator[dict[str, np.ndarray]]:
        arrays = job.arrays()
        if dict(job.variant.params).get("backend") == "memory":
            arrays = {name: np.array(array) for name, array in arrays.items()}  # copied into RAM first
        variant = job.variant
        if dict(variant.params).get("weights") is not None:
            yield from _mixed(job, arrays)
            return
        transforms = self.transforms(job)
        n, batch_size = variant.num_records, variant.batch_size
        epoch = 0
        while True:
            order = (
                np.random.default_rng([job.seed, epoch]).permutation(n)
                if job.shuffle and not dict(variant.params).get("ordered", False)  # PC-3 reads in order
                else np.arange(n)
            )
            for index in range(n // batch_size):
                ids = order[index * batch_size : (index + 1) * batch_size]
                batch = _gather(arrays, ids)
                rng = np.random.default_rng([job.seed, epoch, index])
                yield _views(batch, transforms, rng, dict(variant.params).get("views"))
            epoch += 1


def _gather(arrays: dict[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``ids`` of every field; a ragged store (``tokens`` + ``offsets``, NLP-2) gives each
    record's tokens padded to the batch's longest, and ``length``."""
    if "offsets" not in arrays:
        return {name: array[ids] for name, array in arrays.items()}
    tokens, lengths = ragged_rows(arrays["tokens"], arrays["offsets"], ids, pad_value=0)
    rest = {name: array[ids] for name, array in arrays.items() if name not in ("tokens", "offsets")}
    return {**rest, "tokens": tokens, "length": lengths}


def _mixed(job: Job, arrays: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """IO-3: each element picks dataset ``d`` with its weight, then a uniform record of ``d``."""
    weights = np.asarray(job.variant.param("weights"), np.float64)
    datasets = sorted({name.split("_", 1)[0] for name in arrays})
    columns = [{n.split("_", 1)[1]: a for n, a in arrays.items() if n.startswith(f"{d}_")} for d in datasets]
    batch_size = job.variant.batch_size
    for step in range(2**62):
        rng = np.random.default_rng([job.seed, step])
        picks = rng.choice(len(datasets), size=batch_size, p=weights / weights.sum())
        parts = []
        for d, cols in enumerate(columns):
            ids = np.sort(rng.integers(0, len(cols["index"]), size=int((picks == d).sum())))
            parts.append({name: col[ids] for name, col in cols.items()})
        yield {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _views(batch: dict[str, np.ndarray], transforms: tuple, rng: np.random.Generator, views: int | None) -> dict:
    """The transforms once, or (PC-2) once per view with fresh draws, the transformed fields
    stacked on a views axis after the batch axis."""
    if views is None:
        return apply_transforms(batch, transforms, rng)
    outs = [apply_transforms(batch, transforms, rng) for _ in range(views)]
    changed = {t.field for t in transforms}
    return {k: np.stack([o[k] for o in outs], axis=1) if k in changed else outs[0][k] for k in outs[0]}

