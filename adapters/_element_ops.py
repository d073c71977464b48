"""The scenarios' transforms on one record, in NumPy (image resampling by OpenCV, as NumPy-image
users do), for loaders without their own operators.

Random parameters come from ``record_uniforms``: a counter-based hash of (step seed, epoch,
record id), each transform step seeded as ``adapters.torch_ops`` seeds it, so a record's
augmentation does not depend on batch size, worker count or arrival order, and every loader
using this module (and torch's) draws the same crop for the same record. Deterministic
transforms broadcast over a leading batch axis with the same values as per record, so a loader
whose idiom is a batch-level map applies them to the whole batch at once; stochastic ones run
record by record or in a whole-batch form equal to it row for row.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from adapters import _element_ops_media as media
from scenarios import Transform
from scenarios.reference import image, tabular, text

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
CROP_UNIFORMS = 22  # 10 attempts × (area, aspect) + (top, left)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a bijective avalanche on uint64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def record_uniforms(seed: int, epoch: int, ids: np.ndarray, count: int) -> np.ndarray:
    """``[len(ids), count]`` float64 uniforms in [0, 1), a pure function of (seed, epoch, id)."""
    with np.errstate(over="ignore"):
        key = _mix(np.array([seed], np.uint64) * _GOLDEN + np.uint64(epoch))
        per_record = _mix(key ^ (np.asarray(ids, np.uint64)[:, None] * _GOLDEN))
        bits = _mix(per_record + np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN)
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def step_seed(seed: int, step: int) -> int:
    """The seed of transform ``step``'s draws: ``adapters.torch_ops.step_seed``, so these peers
    and torch draw the same parameters for the same record."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def crop_box(u: Sequence[float], height: int, width: int, scale, ratio) -> tuple[int, int, int, int]:
    """``(top, left, crop_h, crop_w)`` by RandomResizedCrop's sampling: 10 tries, then a centre crop."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for attempt in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * u[2 * attempt])
        aspect = math.exp(log_lo + (log_hi - log_lo) * u[2 * attempt + 1])
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(u[20] * (height - h + 1)), int(u[21] * (width - w + 1)), h, w
    in_ratio = width / height
    h, w = height, width
    if in_ratio < ratio[0]:
        h = int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w = int(round(height * ratio[1]))
    return (height - h) // 2, (width - w) // 2, h, w


def _neighbours(start: int, length: int, out: int, limit: int):
    """Source indices and weights of ``out`` half-pixel-centred samples of ``[start, start+length)``,
    clamped to the image; the same float32 arithmetic as ``scenarios.reference.image``."""
    coords = np.float32(start) + (np.arange(out, dtype=np.float32) + 0.5) * (np.float32(length) / out)
    coords -= 0.5
    np.maximum(coords, 0.0, out=coords)
    np.minimum(coords, limit - 1.0, out=coords)
    low = coords.astype(np.intp)  # coords >= 0: truncation is floor
    return low, np.minimum(low + 1, limit - 1), (coords - low).astype(np.float32)


def resized_crop(img: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """An HWC image's ``box`` cut out and resized to ``size`` by OpenCV's bilinear
    ``cv2.resize`` (half-pixel centres, clamped at the box's edges), as albumentations' and
    torchvision's RandomResizedCrop do on NumPy images; in float32, so nothing is rounded to uint8."""
    import cv2

    top, left, crop_h, crop_w = box
    crop = np.ascontiguousarray(img[top : top + crop_h, left : left + crop_w], dtype=np.float32)
    out = cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return out.reshape(size[0], size[1], img.shape[2])  # cv2 drops a single channel axis


def resize(x: np.ndarray, size) -> np.ndarray:
    """Bilinear resize of ``[..., H, W, C]`` to ``size`` (half-pixel centres): the reference's
    float32 arithmetic and order (along x, then y), so the values agree bit for bit."""
    height, width = x.shape[-3], x.shape[-2]
    y0, y1, fy = _neighbours(0, height, size[0], height)
    x0, x1, fx = _neighbours(0, width, size[1], width)
    fx = fx[:, None]
    across = x[..., x0, :] * (1 - fx) + x[..., x1, :] * fx
    fy = fy[:, None, None]
    return across[..., y0, :, :] * (1 - fy) + across[..., y1, :, :] * fy


def _multi_scale_resize(x, u, *, sizes, out_fields):
    return {name: resize(x, tuple(size)) for name, size in zip(out_fields, sizes)}


def _random_resized_crop(img, u, *, size, scale, ratio):
    return resized_crop(img, crop_box(u.tolist(), img.shape[0], img.shape[1], scale, ratio), tuple(size))


def _random_horizontal_flip(img, u, *, p):
    return img[:, ::-1] if u[0] < p else img


def _float32(x: np.ndarray, owned: bool) -> np.ndarray:
    """``x`` as float32: a new buffer unless ``x`` is already a float32 one this transform made."""
    return x.astype(np.float32, copy=not owned)


def _multiply(x, u, *, factor, owned=False):
    x = _float32(x, owned)
    return np.multiply(x, np.float32(factor), out=x)


def _add(x, u, *, value, owned=False):
    x = _float32(x, owned)
    return np.add(x, np.float32(value), out=x)


def _clip(x, u, *, low, high, owned=False):
    x = _float32(x, owned)
    return np.clip(x, np.float32(low), np.float32(high), out=x)


def _random_apply(x, u, *, p, op, op_params):
    """One record: ``op`` if its uniform is below ``p``."""
    return OPS[op][1](x, None, **dict(op_params)) if u[0] < p else x


def _random_apply_batch(x, u, *, p, op, op_params):
    """A batch: ``op`` once over the batch, kept on the rows whose uniform is below ``p`` (each
    row's uniform is its record's, so the result equals the per-record one)."""
    applied = (u[:, 0] < p).reshape(-1, *[1] * (x.ndim - 1))
    return np.where(applied, OPS[op][1](x, None, **dict(op_params)), x)


# name → (uniforms per record, fn(value, uniforms, **params)); deterministic ones take u=None
# and accept a leading batch axis.
OPS: dict[str, tuple[int, Callable[..., Any]]] = {
    "random_resized_crop": (CROP_UNIFORMS, _random_resized_crop),
    "random_horizontal_flip": (1, _random_horizontal_flip),
    "normalize": (0, lambda x, u, *, scale, mean, std: image.normalize(x, mean, std, scale)),
    "shift_tokens": (0, lambda w, u: text.shift_tokens(w)),
    "standardize": (0, lambda x, u, *, mean, std: tabular.standardize(x, mean, std)),
    "multiply": (0, _multiply),
    "add": (0, _add),
    "clip": (0, _clip),
    "log1p": (0, lambda x, u: tabular.log1p(x)),
    "hash_to_vocabulary": (0, lambda x, u, *, vocab_size, salt: tabular.hash_to_vocabulary(x, vocab_size, salt)),
    "random_apply": (1, _random_apply),
    "multi_scale_resize": (0, _multi_scale_resize),
    **media.OPS,
}
# Stochastic ops with a whole-batch form, ``fn(values, uniforms [batch, count], **params)``: the
# batch path uses it instead of a loop over records.
BATCH_OPS: dict[str, Callable[..., Any]] = {"random_apply": _random_apply_batch, **media.BATCH_OPS}
# Ops that return a fresh float32 array, and those that may write into one (``owned=True``): a
# chain of them (PC-1) allocates once, as NumPy code written for speed does, with the
# reference's values bit for bit (the same float32 operations in the same order).
_FRESH = frozenset({"normalize", "standardize", "multiply", "add", "clip"})
_IN_PLACE = frozenset({"multiply", "add", "clip"})


def _put(out: dict, field: str, result) -> None:
    """A dict result replaces the field with new ones, unless it keeps it under ``"__keep__"``
    (``random_window``: the window and its offset), as ``scenarios.reference`` does."""
    if isinstance(result, dict):
        result = dict(result)
        if "__keep__" in result:
            out[field] = result.pop("__keep__")
        else:
            del out[field]
        out.update(result)
    else:
        out[field] = result


def _stack(rows: list):
    """Per-record results as one batch (field by field for dict results)."""
    if isinstance(rows[0], dict):
        return {k: np.stack([row[k] for row in rows]) for k in rows[0]}
    return np.stack(rows)


def _kwargs(t: Transform, out: Mapping, one: bool = False) -> dict:
    """``t``'s parameters, a ``length_field`` given as that field's array (``[None]``: one record
    as a batch of one), as ``scenarios.reference.apply_transforms`` passes it."""
    kw = dict(t.kwargs)
    if kw.get("length_field") is not None:
        lengths = np.asarray(out[kw["length_field"]])
        kw["length_field"] = lengths[None] if one else lengths
    return kw


def _one(t: Transform, value, owned: set[str], out: Mapping):
    """A deterministic ``t`` on one record; ops that need a batch axis see a batch of one."""
    if t.name not in media.BATCH_AXIS:
        return _apply(t, value, None, owned, _kwargs(t, out))
    result = _apply(t, value[None], None, owned, _kwargs(t, out, one=True))
    return {k: v[0] for k, v in result.items()} if isinstance(result, dict) else result[0]


def _apply(t: Transform, value, u, owned: set[str], kwargs: Mapping | None = None):
    """``t`` on ``value``; writes in place only into a buffer an earlier op of this call made."""
    fn = OPS[t.name][1]
    kwargs = t.kwargs if kwargs is None else kwargs
    if t.name in _IN_PLACE and t.field in owned:
        return fn(value, u, owned=True, **kwargs)
    return fn(value, u, **kwargs)


class RecordTransform:
    """A scenario's transforms with its exact parameters; picklable (spawned workers use it)."""

    def __init__(self, transforms: Sequence[Transform], seed: int):
        unknown = [t.name for t in transforms if t.name not in OPS]
        if unknown:
            raise ValueError(f"no NumPy element op for {unknown}; known: {sorted(OPS)}")
        self.transforms = tuple(transforms)
        self.seed = seed
        self._offsets, offset = [], 0
        for t in self.transforms:
            self._offsets.append(offset)
            offset += OPS[t.name][0]
        self.uniform_count = offset
        # (step seed, count) of each stochastic step: its uniforms are torch_ops' for that step.
        self._draws = tuple((step_seed(seed, step), OPS[t.name][0])
                            for step, t in enumerate(self.transforms) if OPS[t.name][0])

    @property
    def stochastic(self) -> bool:
        return self.uniform_count > 0

    def uniforms(self, epoch: int, ids: np.ndarray) -> np.ndarray:
        """``[len(ids), uniform_count]``: each stochastic step's uniforms, in step order."""
        parts = [record_uniforms(seed, epoch, ids, count) for seed, count in self._draws]
        if not parts:
            return np.empty((len(ids), 0))
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def __call__(self, record: Mapping[str, np.ndarray], uniforms: np.ndarray | None) -> dict:
        """One record's output; ``uniforms`` is its row of ``self.uniforms`` (None if deterministic)."""
        out, owned = dict(record), set()
        for t, offset in zip(self.transforms, self._offsets):
            count = OPS[t.name][0]
            if count:
                _put(out, t.field, _apply(t, out[t.field], uniforms[offset : offset + count], owned))
            else:
                _put(out, t.field, _one(t, out[t.field], owned, out))
            (owned.add if t.name in _FRESH else owned.discard)(t.field)
        return out

    def batch(self, batch: Mapping[str, np.ndarray], ids: np.ndarray, epoch: int) -> dict:
        """A batch's output with per-record semantics: stochastic steps loop over records."""
        out, owned = dict(batch), set()
        u = self.uniforms(epoch, ids) if self.stochastic else None
        for t, offset in zip(self.transforms, self._offsets):
            count, fn = OPS[t.name]
            value = out[t.field]
            if count and t.name in BATCH_OPS:
                _put(out, t.field, BATCH_OPS[t.name](value, u[:, offset : offset + count], **t.kwargs))
                owned.add(t.field)
            elif count:
                rows = [fn(value[i], u[i, offset : offset + count], **t.kwargs) for i in range(len(ids))]
                _put(out, t.field, _stack(rows))
                owned.add(t.field)
            else:
                _put(out, t.field, _apply(t, value, None, owned, _kwargs(t, out)))
                (owned.add if t.name in _FRESH else owned.discard)(t.field)
        return out
