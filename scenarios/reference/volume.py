"""NumPy volume transforms over a batch ``[B, D, H, W]``, matching ``datarax.operators.volume``."""

from __future__ import annotations

import numpy as np


def crop_offsets(rng: np.random.Generator, count: int, shape, size) -> np.ndarray:
    """``[count, 3]`` uniform window origins: each in ``[0, shape - size]``."""
    return np.stack([rng.integers(0, v - s + 1, size=count) for v, s in zip(shape, size)], axis=1)


def crop(volumes: np.ndarray, offsets: np.ndarray, size) -> np.ndarray:
    d, h, w = size
    return np.stack([v[z : z + d, y : y + h, x : x + w] for v, (z, y, x) in zip(volumes, offsets)])


def zscore(volumes: np.ndarray, eps: float) -> np.ndarray:
    x = volumes.astype(np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float32)
    var = np.square(x - mean).mean(axis=axes, keepdims=True, dtype=np.float32)
    return ((x - mean) / np.sqrt(var + np.float32(eps))).astype(np.float32)


def locate_crops(volumes: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """``[B, 3]`` origins of the windows whose first line best matches each crop's (up to an
    affine map, so z-scored crops are found too): the window a loader cut, to check it exactly."""
    d, h, w = crops.shape[1:4]
    found = []
    for volume, piece in zip(volumes.astype(np.float32), crops.astype(np.float32)):
        lines = np.lib.stride_tricks.sliding_window_view(volume, w, axis=2)  # [D, H, W-w+1, w]
        lines = lines[: volume.shape[0] - d + 1, : volume.shape[1] - h + 1]
        lines = lines - lines.mean(axis=-1, keepdims=True)
        target = piece[0, 0] - piece[0, 0].mean()
        score = (lines @ target) / (np.linalg.norm(lines, axis=-1) * np.linalg.norm(target) + 1e-12)
        found.append(np.unravel_index(np.argmax(score), score.shape))
    return np.asarray(found, np.int64)
