"""Caching (IO-4): an expensive deterministic transform, computed once and reused from epoch 2."""

from __future__ import annotations

import time

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference import apply_transforms
from scenarios.reference.image import IMAGENET_MEAN, IMAGENET_STD
from scenarios.vision import ImageClassification, indexed_ramp_images


def _variant(name, records, batch, size, iterations, store):
    return Variant(name, records, batch, (("image_size", size), ("crop_size", size), ("classes", 10),
                                          ("blur_iterations", iterations), ("cache", store)))


class CachedTransform(Scenario):
    """IO-4: uint8 images → ``blur_iterations`` passes of a 3×3 box blur → /255, Normalize; all
    deterministic, so a loader may compute each record once and reuse it (``cache``: where it
    is kept, ``memory`` or ``disk``).

    Rows are compared with the NumPy reference. The timed throughput is the steady state (warm
    cache). Outcomes, measured in the cell from a fresh loader: the first epoch's and the second
    epoch's throughput and the speed-up between them.
    """

    id = "IO-4"
    name = "caching"
    category = "io"
    capabilities = frozenset({"exact_reference", "caching", "outcomes"})
    variants = {
        "small": _variant("small", 4096, 128, 32, 24, "memory"),
        "small-disk": _variant("small-disk", 4096, 128, 32, 24, "disk"),
        "medium": _variant("medium", 8192, 128, 64, 24, "memory"),
        "large": _variant("large", 16384, 256, 96, 32, "disk"),
    }
    _images = ImageClassification()

    def input_fields(self, variant):
        return (self._images.input_fields(variant)[0], FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        size = variant.param("image_size")
        return (FieldSpec("image", (size, size, 3), "float32"), FieldSpec("index", (), "int32"))

    def transforms(self, variant):
        return (
            Transform.of("box_blur", field="image", iterations=variant.param("blur_iterations")),
            Transform.of("normalize", field="image", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        )

    def generate(self, variant, seed):
        return indexed_ramp_images(np.random.default_rng([seed, 47]), variant)

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        want = apply_transforms({"image": np.asarray(inputs["image"][rows])}, self.transforms(variant), None)
        return first_mismatch("image", batch["image"], want["image"], atol=1e-4, rtol=1e-4)

    def outcomes(self, adapter, job):
        adapter.close()  # a fresh loader: nothing cached from the timed runs
        per_epoch = job.variant.num_records // job.variant.batch_size
        iterator = adapter.open(job)
        try:
            seconds = []
            for _ in range(2):
                started = time.perf_counter()
                for _, batch in zip(range(per_epoch), iterator):
                    for leaf in batch.values():
                        np.asarray(leaf)
                seconds.append(time.perf_counter() - started)
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()
        rate = [per_epoch * job.variant.batch_size / s for s in seconds]
        return {
            "epoch1_elements_per_s": rate[0],
            "epoch2_elements_per_s": rate[1],
            "epoch2_speedup": rate[1] / rate[0],
            "batches_per_epoch": per_epoch,
        }
