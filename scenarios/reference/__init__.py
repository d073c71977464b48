"""NumPy references of every transform's semantics, vectorized over a batch.

``REFERENCE[name](array, rng, **params)`` applies transform ``name`` to one field of a whole
batch; ``rng`` is a ``numpy.random.Generator`` (unused by deterministic transforms).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from scenarios.reference import image


def _random_resized_crop(images, rng, *, size, scale, ratio):
    boxes = image.sample_resized_crop_boxes(rng, len(images), *images.shape[1:3], scale, ratio)
    return image.resize_regions(images, boxes, size)


def _random_horizontal_flip(images, rng, *, p):
    flips = rng.random(len(images)) < p
    return np.where(flips.reshape(-1, *[1] * (images.ndim - 1)), images[:, :, ::-1], images)


def _normalize(images, rng, *, scale, mean, std):
    return image.normalize(images, mean, std, scale)


REFERENCE: dict[str, Callable[..., np.ndarray]] = {
    "random_resized_crop": _random_resized_crop,
    "random_horizontal_flip": _random_horizontal_flip,
    "normalize": _normalize,
}
