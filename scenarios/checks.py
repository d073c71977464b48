"""Row-level conformance helpers: find a batch's stored rows by ``index`` and compare exactly."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def stored_rows(batch: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray | None, str | None]:
    """``(record ids, None)`` for ``batch["index"]``, or ``(None, problem)`` when they are invalid."""
    index = np.asarray(batch["index"]).astype(np.int64)
    count = len(next(iter(inputs.values())))
    if index.min() < 0 or index.max() >= count:
        return None, f"field 'index' has record ids outside [0, {count})"
    if len(np.unique(index)) != len(index):
        return None, "field 'index' repeats a record within one batch"
    stored = np.asarray(inputs["index"])[index]
    if not np.array_equal(stored, index):
        return None, "field 'index' does not match the stored ids (rows were altered)"
    return index, None


def first_mismatch(name: str, got: np.ndarray, want: np.ndarray, *, atol: float = 0.0, rtol: float = 0.0) -> str | None:
    """None when ``got`` equals ``want`` (within ``atol + rtol*|want|``), else where it first differs."""
    got, want = np.asarray(got), np.asarray(want)
    if atol == 0.0 and rtol == 0.0:
        bad = got != want
    else:
        bad = ~np.isclose(got, want, atol=atol, rtol=rtol)
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    return (
        f"field {name!r} differs from the reference at {where}: {got[where]!r} != {want[where]!r} "
        f"({int(bad.sum())} of {bad.size} values differ)"
    )


def horizontal_flip_rate(stored: np.ndarray, out: np.ndarray) -> tuple[float, int]:
    """``(fraction of rows mirrored, rows judged)`` for HWC images whose rows ramp left to right.

    A horizontal flip reverses the sign of an image's left-to-right ramp, and crops, bilinear
    resizes, monotone clipping and per-channel normalization with a positive scale keep it;
    rows whose ramp is too flat to tell (stored or output) are not judged.
    """
    def ramp(images):
        images = np.asarray(images, np.float32)
        return (images[:, :, -1] - images[:, :, 0]).mean(axis=(1, 2))

    before, after = ramp(stored), ramp(out)
    scale = np.abs(after).max() if len(after) else 1.0
    judged = (np.abs(before) >= 8) & (np.abs(after) >= 0.02 * scale)
    flipped = np.sign(before[judged]) != np.sign(after[judged])
    return (float(flipped.mean()) if judged.any() else float("nan")), int(judged.sum())
