"""NumPy text transforms over a batch of token windows."""

from __future__ import annotations

import numpy as np


def shift_tokens(windows: np.ndarray) -> dict[str, np.ndarray]:
    """Next-token pairs from windows ``[..., L+1]``: ``inputs = w[..., :-1]``, ``targets = w[..., 1:]``."""
    return {"inputs": windows[..., :-1], "targets": windows[..., 1:]}


def pad_to_length(tokens: np.ndarray, length: int, pad_value: int, lengths: np.ndarray | None = None) -> np.ndarray:
    """Positions at or past each row's ``lengths`` become ``pad_value``; then truncate/pad to ``length``."""
    tokens = np.asarray(tokens)
    if lengths is not None:
        keep = np.arange(tokens.shape[1]) < np.asarray(lengths)[:, None]
        tokens = np.where(keep, tokens, np.asarray(pad_value, tokens.dtype))
    tokens = tokens[:, :length]
    return np.pad(tokens, ((0, 0), (0, length - tokens.shape[1])), constant_values=pad_value)


def attention_mask(tokens: np.ndarray, pad_value: int, lengths: np.ndarray | None = None) -> np.ndarray:
    """``bool[B, L]``: True for real tokens (before the row's length, else not ``pad_value``)."""
    if lengths is not None:
        return np.arange(tokens.shape[1]) < np.asarray(lengths)[:, None]
    return tokens != pad_value
