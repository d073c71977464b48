"""NumPy tabular transforms over a batch of feature rows."""

from __future__ import annotations

import numpy as np


def standardize(features: np.ndarray, mean, std) -> np.ndarray:
    """``(x - mean) / std`` per feature column, computed in float32."""
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    return ((features.astype(np.float32) - mean) / std).astype(np.float32)
