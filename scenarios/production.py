"""Production-concern scenarios (PR-*): their records carry measured outcomes next to throughput."""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np

from scenarios.base import FieldSpec, Scenario, Variant
from scenarios.checks import first_mismatch, horizontal_flip_rate, stored_rows
from scenarios.vision import ImageClassification

_COMPARED_BATCHES = 3


def _host(batch) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in batch.items()}


def _first_batches(adapter, job, count: int) -> list[dict[str, np.ndarray]]:
    iterator = adapter.open(job)
    try:
        return [_host(b) for b in itertools.islice(iterator, count)]
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()


def _identical(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b)
    )


class Determinism(Scenario):
    """PR-2: CV-1's random augmentation, shuffled; are two runs with one seed identical, and a
    different seed different?

    Conformance also measures the flip rate: the stored images ramp left to right, so each
    row shows whether it was mirrored. The outcome opens the loader three times (seed, seed again, seed + 1) and compares the first
    batches bit for bit: ``same_seed_identical`` and ``other_seed_differs`` are measured, and a
    loader that fails them is reported so, not excluded.
    """

    id = "PR-2"
    name = "determinism"
    category = "production"
    capabilities = frozenset({"stochastic_per_element", "outcomes"})
    variants = {
        "small": Variant("small", 4096, 128, (("image_size", 32), ("crop_size", 32), ("classes", 10))),
        "medium": Variant("medium", 20000, 128, (("image_size", 128), ("crop_size", 112), ("classes", 100))),
        "large": Variant("large", 50000, 256, (("image_size", 256), ("crop_size", 224), ("classes", 1000))),
    }
    _images = ImageClassification()

    def input_fields(self, variant):
        return (*self._images.input_fields(variant), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        return (*self._images.output_fields(variant), FieldSpec("index", (), "int32"))

    def transforms(self, variant):
        return self._images.transforms(variant)

    def generate(self, variant, seed):
        data = self._images.generate(variant, seed)
        return {**data, "index": np.arange(variant.num_records, dtype=np.int32)}

    def check_values(self, variant, batch):
        return self._images.check_values(variant, batch)

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        problem = first_mismatch("label", batch["label"], np.asarray(inputs["label"][rows]))
        if problem:
            return problem
        # The stored images ramp left to right, so each row shows whether it was mirrored.
        p = dict(next(t for t in self.transforms(variant) if t.name == "random_horizontal_flip").params)["p"]
        rate, judged = horizontal_flip_rate(inputs["image"][rows], batch["image"])
        tolerance = 6 * np.sqrt(p * (1 - p) / max(judged, 1))  # six standard errors of a binomial rate
        if judged >= 20 and abs(rate - p) > tolerance:
            return f"field 'image': {rate:.2f} of {judged} rows mirrored, expected {p} ± {tolerance:.2f} (flip wrong?)"
        return None

    def outcomes(self, adapter, job):
        runs = [_first_batches(adapter, j, _COMPARED_BATCHES)
                for j in (job, job, dataclasses.replace(job, seed=job.seed + 1))]
        return {
            "batches_compared": _COMPARED_BATCHES,
            "same_seed_identical": _identical(runs[0], runs[1]),
            "other_seed_differs": not _identical(runs[0], runs[2]),
        }


class CheckpointResume(Determinism):
    """PR-1: PR-2's workload (random crop + flip, shuffled); the loader's iterator state is saved
    after ``save_after`` batches, mid-epoch, and a fresh iterator resumed from it.

    Outcomes, measured: ``state_bytes`` (size of what was saved), ``save_s``, ``resume_s``
    (restore + first batch, materialized), and ``resumed_identical`` — whether the next
    ``compared`` batches equal, bit for bit, those of an uninterrupted run. An adapter takes part
    through two hooks: ``save_checkpoint(job, iterator, directory)`` and
    ``resume(job, directory) -> iterator``; loaders without them are unsupported (capability
    ``checkpoint``).
    """

    id = "PR-1"
    name = "checkpoint/resume"
    capabilities = frozenset({"stochastic_per_element", "outcomes", "checkpoint"})
    variants = {
        "small": Variant("small", 4096, 128, (("image_size", 32), ("crop_size", 32), ("classes", 10),
                                              ("save_after", 10), ("compared", 5))),
        "medium": Variant("medium", 20000, 128, (("image_size", 128), ("crop_size", 112), ("classes", 100),
                                                 ("save_after", 50), ("compared", 5))),
        "large": Variant("large", 50000, 256, (("image_size", 256), ("crop_size", 224), ("classes", 1000),
                                               ("save_after", 100), ("compared", 5))),
    }

    def outcomes(self, adapter, job):
        save_after, compared = job.variant.param("save_after"), job.variant.param("compared")
        uninterrupted = _first_batches(adapter, job, save_after + compared)[save_after:]
        iterator = adapter.open(job)
        with tempfile.TemporaryDirectory(prefix="pr1-state-") as directory:
            try:
                for _ in itertools.islice(iterator, save_after):
                    pass
                start = time.perf_counter()
                adapter.save_checkpoint(job, iterator, Path(directory))
                save_s = time.perf_counter() - start
            finally:
                close = getattr(iterator, "close", None)
                if close:
                    close()
            state_bytes = sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
            start = time.perf_counter()
            resumed = adapter.resume(job, Path(directory))
            first = _host(next(resumed))
            resume_s = time.perf_counter() - start
            after = [first, *(_host(b) for b in itertools.islice(resumed, compared - 1))]
            close = getattr(resumed, "close", None)
            if close:
                close()
        return {
            "saved_after_batches": save_after,
            "batches_compared": compared,
            "state_bytes": state_bytes,
            "save_s": save_s,
            "resume_s": resume_s,
            "resumed_identical": _identical(uninterrupted, after),
        }
