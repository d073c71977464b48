"""NumPy reference of the repeated 3×3 box blur (IO-4's expensive deterministic transform)."""

from __future__ import annotations

import numpy as np


def box_blur(images: np.ndarray, iterations: int) -> np.ndarray:
    """``iterations`` passes of a 3×3 mean over (H, W) with edge-replicated borders, in float32."""
    out = images.astype(np.float32)
    h, w = out.shape[1:3]
    for _ in range(iterations):
        padded = np.pad(out, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        total = np.zeros_like(out)
        for dy in range(3):
            for dx in range(3):
                total = total + padded[:, dy:dy + h, dx:dx + w]
        out = total / np.float32(9)
    return out
