"""The baseline a hand-written loop gives: shuffle, gather by index, vectorized NumPy transforms."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from adapters.base import Adapter, Job
from scenarios import Scenario, Variant
from scenarios.reference import REFERENCE, apply_transforms


class NumpyAdapter(Adapter):
    name = "numpy"

    def version(self) -> str:
        return np.__version__

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        missing = [t.name for t in scenario.transforms(variant) if t.name not in REFERENCE]
        if missing:
            return f"no NumPy implementation of {missing}"
        backend = dict(variant.params).get("backend", "npy")
        if backend not in ("npy", "memory"):
            return f"the NumPy baseline reads only .npy files (memory-mapped or loaded), not {backend!r}"
        return None

    def transforms(self, job: Job) -> tuple:
        """The work applied to each batch: the scenario's transforms, in order."""
        return job.scenario.transforms(job.variant)

    def open(self, job: Job) -> Iterator[dict[str, np.ndarray]]:
        arrays = job.arrays()
        if dict(job.variant.params).get("backend") == "memory":
            arrays = {name: np.array(array) for name, array in arrays.items()}  # copied into RAM first
        variant = job.variant
        transforms = self.transforms(job)
        n, batch_size = variant.num_records, variant.batch_size
        epoch = 0
        while True:
            order = (
                np.random.default_rng([job.seed, epoch]).permutation(n)
                if job.shuffle
                else np.arange(n)
            )
            for index in range(n // batch_size):
                ids = order[index * batch_size : (index + 1) * batch_size]
                batch = {name: array[ids] for name, array in arrays.items()}
                rng = np.random.default_rng([job.seed, epoch, index])
                yield apply_transforms(batch, transforms, rng)
            epoch += 1
