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


def ragged_rows(flat: np.ndarray, offsets: np.ndarray, ids: np.ndarray, pad_value: int) -> tuple[np.ndarray, np.ndarray]:
    """Records ``ids`` of a ragged store (``flat[offsets[i]:offsets[i+1]]``) as ``(tokens padded to
    the longest, lengths)``, one vectorized read."""
    starts, ends = np.asarray(offsets)[ids], np.asarray(offsets)[np.asarray(ids) + 1]
    lengths = ends - starts
    real = np.arange(max(int(lengths.max(initial=0)), 1)) < lengths[:, None]
    positions = np.where(real, starts[:, None] + np.arange(real.shape[1]), 0)
    tokens = np.where(real, np.asarray(flat)[positions], np.asarray(pad_value, flat.dtype))
    return tokens, lengths.astype(np.int32)


def bucketed_width(lengths: np.ndarray, bucket_size: int, max_len: int) -> int:
    """The batch's longest length rounded up to a multiple of ``bucket_size``, at most ``max_len``."""
    longest = max(int(np.max(lengths, initial=0)), 1)
    return min(-(-longest // bucket_size) * bucket_size, max_len)


def pad_to_bucket(tokens: np.ndarray, bucket_size: int, max_len: int, pad_value: int, lengths: np.ndarray) -> np.ndarray:
    """Pads (or cuts) ``tokens [B, *]`` to the batch's bucketed width; ``pad_value`` past each length."""
    width = bucketed_width(lengths, bucket_size, max_len)
    return pad_to_length(tokens, width, pad_value, lengths)
