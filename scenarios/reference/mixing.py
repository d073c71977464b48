"""NumPy references of batch mixing (MixUp, CutMix): record ``i`` is mixed with record ``i - 1``
of its batch (cyclically), one ``λ ~ Beta(alpha, alpha)`` per record, labels one-hot and mixed
with the same ``λ``."""

from __future__ import annotations

import numpy as np


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[np.asarray(labels)]


def mix_labels(labels: np.ndarray, lam: np.ndarray, classes: int) -> np.ndarray:
    """``λ·onehot(y_i) + (1-λ)·onehot(y_{i-1})`` per row."""
    hot = one_hot(labels, classes) if np.issubdtype(np.asarray(labels).dtype, np.integer) else labels
    lam = np.asarray(lam, np.float32)[:, None]
    return (lam * hot + (1 - lam) * np.roll(hot, 1, axis=0)).astype(np.float32)


def mixup(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *, alpha: float, classes: int):
    images = images.astype(np.float32)
    lam = rng.beta(alpha, alpha, size=len(images)).astype(np.float32)
    shape = (-1,) + (1,) * (images.ndim - 1)
    mixed = lam.reshape(shape) * images + (1 - lam.reshape(shape)) * np.roll(images, 1, axis=0)
    return mixed.astype(np.float32), mix_labels(labels, lam, classes)


def cutmix_boxes(rng: np.random.Generator, count: int, height: int, width: int, alpha: float):
    """Per record, the rows and columns inside its pasted box (``[n, H]``, ``[n, W]``) and the
    area kept, ``λ``: a box of area ``1 - λ₀`` (``λ₀ ~ Beta(α, α)``) at a uniform centre,
    clipped by the image's border."""
    lam = rng.beta(alpha, alpha, size=count)
    centre = rng.random((count, 2)) * np.array([height, width])
    half = np.sqrt(1.0 - lam)[:, None] * np.array([height, width]) / 2
    rows = np.abs(np.arange(height)[None, :] + 0.5 - centre[:, :1]) < half[:, :1]
    cols = np.abs(np.arange(width)[None, :] + 0.5 - centre[:, 1:]) < half[:, 1:]
    return rows, cols, 1.0 - rows.mean(axis=1) * cols.mean(axis=1)


def cutmix(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *, alpha: float, classes: int):
    """The partner's pixels inside the box (``cutmix_boxes``); labels mixed with the area kept."""
    images = images.astype(np.float32)
    rows, cols, kept = cutmix_boxes(rng, len(images), *images.shape[1:3], alpha)
    box = rows[:, :, None] & cols[:, None, :]
    mixed = np.where(box[..., None], np.roll(images, 1, axis=0), images)
    return mixed.astype(np.float32), mix_labels(labels, kept, classes)
