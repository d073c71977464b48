"""NumPy tabular transforms over a batch of feature rows."""

from __future__ import annotations

import numpy as np


def standardize(features: np.ndarray, mean, std) -> np.ndarray:
    """``(x - mean) / std`` per feature column, computed in float32."""
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    return ((features.astype(np.float32) - mean) / std).astype(np.float32)


def log1p(x: np.ndarray) -> np.ndarray:
    """``log(1 + x)`` in float32."""
    return np.log1p(x.astype(np.float32)).astype(np.float32)


def hash_to_vocabulary(values: np.ndarray, vocab_size: int, salt: int = 0) -> np.ndarray:
    """``fmix32(uint32(value) ^ salt) % vocab_size`` as int32: murmur3's 32-bit finaliser,
    whose wrapping uint32 arithmetic every loader reproduces bit for bit."""
    x = values.astype(np.uint32) ^ np.uint32(salt)
    x = (x ^ (x >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    x = (x ^ (x >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    x = x ^ (x >> np.uint32(16))
    return (x % np.uint32(vocab_size)).astype(np.int32)
