"""NumPy element-wise arithmetic over any field, computed in float32 (PC-1's chain ops)."""

from __future__ import annotations

import numpy as np


def multiply(x: np.ndarray, factor: float) -> np.ndarray:
    return (x.astype(np.float32) * np.float32(factor)).astype(np.float32)


def add(x: np.ndarray, value: float) -> np.ndarray:
    return (x.astype(np.float32) + np.float32(value)).astype(np.float32)


def clip(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip(x.astype(np.float32), np.float32(low), np.float32(high))
