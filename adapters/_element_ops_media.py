"""The stream peers' NumPy ops for XFMR-1, CV-2, CV-4 and MM-2 (imported into
``adapters._element_ops.OPS``): random windows (``random_crop``, ``random_crop_3d``,
``random_window``), rotation, per-record z-score, the log-mel spectrogram, and MM-1's caption
padding and mask.

Parameters come from each record's uniforms as ``adapters.torch_ops`` derives them (a window
origin is ``floor(u * (extent - size + 1))`` per axis, an angle ``degrees * (2u - 1)``), and the
values are the references' arithmetic (``scenarios.reference``): rotation, z-score and log-mel
call them directly. Stochastic ops give a whole-batch form too (``BATCH_OPS``), equal row for row
to the per-record one.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from scenarios.reference import audio, image, text, volume


def origins(u: np.ndarray, extents, sizes) -> np.ndarray:
    """Integer window origins uniform in ``[0, extent - size]`` per axis, from ``u [..., axes]``."""
    return np.floor(np.asarray(u) * (np.asarray(extents) - np.asarray(sizes) + 1)).astype(np.int64)


def _slices(origin, size) -> tuple[slice, ...]:
    return tuple(slice(o, o + n) for o, n in zip(origin, size))


def _window(x, u, *, size):
    """One record's window of ``size`` over its leading axes (a view)."""
    return x[_slices(origins(u, x.shape[: len(size)], size).tolist(), size)]


def _windows(x, u, *, size):
    """A batch's windows, one origin per row, copied into one new buffer."""
    starts = origins(u, x.shape[1 : 1 + len(size)], size)
    out = np.empty((len(x), *size, *x.shape[1 + len(size) :]), x.dtype)
    for i, origin in enumerate(starts.tolist()):
        out[i] = x[(i, *_slices(origin, size))]
    return out


def _random_window(x, u, *, length, offset_field):
    offset = origins(u, x.shape[:1], (length,))[0]
    return {"__keep__": x[offset : offset + length], offset_field: np.int32(offset)}


def _random_window_batch(x, u, *, length, offset_field):
    offsets = origins(u, x.shape[1:2], (length,))[:, 0]
    return {"__keep__": _windows(x, u, size=(length,)), offset_field: offsets.astype(np.int32)}


def _angles(u: np.ndarray, degrees: float) -> np.ndarray:
    return degrees * (2.0 * u - 1.0)


def _random_rotate(x, u, *, degrees):
    return image.rotate(x[None], _angles(u[:1], degrees))[0]


def _random_rotate_batch(x, u, *, degrees):
    return image.rotate(x, _angles(u[:, 0], degrees))


def _log_mel(x, u, *, out_field, **params):
    return {out_field: audio.log_mel(x, **params)}


def _pad_to_length(x, u, *, length, pad_value, length_field=None):
    return text.pad_to_length(x, length, pad_value, length_field)


def _attention_mask(x, u, *, mask_field, pad_value, length_field=None):
    return {"__keep__": x, mask_field: text.attention_mask(x, pad_value, length_field)}


# name → (uniforms per record, fn(value, uniforms, **params)).
OPS: dict[str, tuple[int, Callable[..., Any]]] = {
    "random_crop": (2, _window),
    "random_crop_3d": (3, _window),
    "random_window": (1, _random_window),
    "random_rotate": (1, _random_rotate),
    "zscore": (0, lambda x, u, *, eps: volume.zscore(x, eps)),
    "log_mel": (0, _log_mel),
    "pad_to_length": (0, _pad_to_length),  # MM-1's caption (a length_field gets its array)
    "attention_mask": (0, _attention_mask),
}
BATCH_OPS: dict[str, Callable[..., Any]] = {
    "random_crop": _windows,
    "random_crop_3d": _windows,
    "random_window": _random_window_batch,
    "random_rotate": _random_rotate_batch,
}
# Deterministic ops that reduce or frame along the record's axes: they always take a leading
# batch axis, and a single record goes through them as a batch of one.
BATCH_AXIS = frozenset({"zscore", "log_mel", "pad_to_length", "attention_mask"})
