"""NumPy text transforms over a batch of token windows."""

from __future__ import annotations

import numpy as np


def shift_tokens(windows: np.ndarray) -> dict[str, np.ndarray]:
    """Next-token pairs from windows ``[..., L+1]``: ``inputs = w[..., :-1]``, ``targets = w[..., 1:]``."""
    return {"inputs": windows[..., :-1], "targets": windows[..., 1:]}
