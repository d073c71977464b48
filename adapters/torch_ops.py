"""The scenarios' transforms as torch ops on whole batches, for the PyTorch ``DataLoader`` adapter.

Every op takes a batch's value (a tensor with a leading batch axis) and returns the new value or
a dict of new fields. Image work runs the way a PyTorch user writes it without torchvision (the
installed torchvision build does not import against this torch): NHWC batches viewed as NCHW
(``channels_last`` memory, no copy), RandomResizedCrop as one ``affine_grid`` + ``grid_sample``
with a box per record (bilinear, half-pixel centres, border clamping: ``interpolate``'s
sampling, but for every record at once), rotation as ``affine_grid`` + ``grid_sample`` with a
matrix per record, multi-scale resizing by ``interpolate``, blur by ``avg_pool2d``, the log-mel
spectrogram by ``torch.stft`` and a mel matrix built once, MixUp/CutMix on the batch with the
previous row as partner (as ``torchvision.transforms.v2.MixUp``/``CutMix`` roll the batch).

Random parameters are a pure function of (seed, step, epoch, record id): per-record uniforms
from ``adapters._element_ops.record_uniforms`` (so a record's crop does not depend on worker
count or batch position), and MixUp/CutMix's Beta draws from a NumPy generator keyed by the
batch's epoch and first id. A resumed or second iterator of one seed therefore repeats them.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from adapters._element_ops import record_uniforms
from scenarios import Transform
from scenarios.reference import STOCHASTIC
from scenarios.reference.audio import mel_weights

ATTEMPTS = 10  # RandomResizedCrop's tries before its centre-crop fallback
_MASK32 = 0xFFFFFFFF


def step_seed(seed: int, step: int) -> int:
    """The seed of transform ``step``'s draws, independent across steps (and views)."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def crop_boxes(u: np.ndarray, height: int, width: int, scale, ratio) -> np.ndarray:
    """``[B, 4]`` (top, left, crop_h, crop_w) by RandomResizedCrop's sampling, from ``u [B, 22]``:
    10 tries of (area, aspect), the first that fits, else the centre crop (vectorized)."""
    area = height * width
    target = area * (scale[0] + (scale[1] - scale[0]) * u[:, 0 : 2 * ATTEMPTS : 2])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = np.exp(log_lo + (log_hi - log_lo) * u[:, 1 : 2 * ATTEMPTS : 2])
    w, h = np.round(np.sqrt(target * aspect)), np.round(np.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first, found = fits.argmax(axis=1), fits.any(axis=1)
    rows = np.arange(len(u))
    in_ratio = width / height
    fb_h = round(width / ratio[0]) if in_ratio < ratio[0] else height
    fb_w = round(height * ratio[1]) if in_ratio > ratio[1] else width
    crop_h = np.where(found, h[rows, first], fb_h)
    crop_w = np.where(found, w[rows, first], fb_w)
    top = np.where(found, np.floor(u[:, 20] * (height - crop_h + 1)), (height - fb_h) // 2)
    left = np.where(found, np.floor(u[:, 21] * (width - crop_w + 1)), (width - fb_w) // 2)
    return np.stack([top, left, crop_h, crop_w], axis=1)


def _nchw(images: torch.Tensor) -> torch.Tensor:
    """An NHWC batch as float NCHW (a ``channels_last`` view: no copy of the layout)."""
    return images.permute(0, 3, 1, 2).float()


def _nhwc(images: torch.Tensor) -> torch.Tensor:
    return images.permute(0, 2, 3, 1)


def resized_crops(images: torch.Tensor, boxes: np.ndarray, size: Sequence[int]) -> torch.Tensor:
    """Each image's box resampled to ``size`` by one ``grid_sample``.

    An output pixel ``j`` samples the box at ``start + (j + 0.5) * length / out - 0.5`` (half-pixel
    centres, ``interpolate(align_corners=False)``'s grid); in ``grid_sample``'s normalized
    coordinates that is ``(length / extent) * x_out + (2 * start + length) / extent - 1``, and
    ``padding_mode="border"`` clamps samples past the edge to it.
    """
    height, width = images.shape[1], images.shape[2]
    top, left, crop_h, crop_w = (torch.from_numpy(c.astype(np.float32)) for c in boxes.T)
    theta = torch.zeros(len(boxes), 2, 3)
    theta[:, 0, 0] = crop_w / width
    theta[:, 0, 2] = (2 * left + crop_w) / width - 1
    theta[:, 1, 1] = crop_h / height
    theta[:, 1, 2] = (2 * top + crop_h) / height - 1
    grid = F.affine_grid(theta, [len(boxes), images.shape[3], *size], align_corners=False)
    out = F.grid_sample(_nchw(images), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return _nhwc(out)


def rotated(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Each image rotated by its angle about its centre (bilinear, zeros outside): the output
    pixel (x, y) reads the input at ``R·(x - c, y - c) + c``, as normalized ``affine_grid`` rows."""
    height, width = images.shape[1], images.shape[2]
    theta_rad = degrees * (math.pi / 180.0)
    cos, sin = torch.cos(theta_rad), torch.sin(theta_rad)
    theta = torch.zeros(len(degrees), 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin * (height / width)
    theta[:, 1, 0], theta[:, 1, 1] = -sin * (width / height), cos
    grid = F.affine_grid(theta, [len(degrees), images.shape[3], height, width], align_corners=False)
    return _nhwc(F.grid_sample(_nchw(images), grid, mode="bilinear", padding_mode="zeros", align_corners=False))


def _windows(x: torch.Tensor, starts: np.ndarray, sizes: Sequence[int]) -> torch.Tensor:
    """Each record's window at ``starts[i]`` (one start per leading axis after the batch), stacked."""
    return torch.stack([x[(i, *(slice(s, s + n) for s, n in zip(start, sizes)))] for i, start in enumerate(starts.tolist())])


def _starts(u: np.ndarray, extents: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
    """Integer window origins uniform in ``[0, extent - size]`` per axis, from uniforms ``u [B, axes]``."""
    return np.floor(u * (np.asarray(extents) - np.asarray(sizes) + 1)).astype(np.int64)


def _hash(values: torch.Tensor, vocab_size: int, salt: int) -> torch.Tensor:
    """murmur3's 32-bit finaliser: int64 arithmetic masked to 32 bits (a wrapping int64 product
    keeps its low 32 bits exact), then ``% vocab_size``."""
    x = (values.long() & _MASK32) ^ salt
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        x = ((x ^ (x >> shift)) * multiplier) & _MASK32
    x = x ^ (x >> 16)
    return (x % vocab_size).int()


def _box_blur(images: torch.Tensor, iterations: int) -> torch.Tensor:
    """``iterations`` 3×3 means with edge-replicated borders: ``pad`` + ``avg_pool2d`` each."""
    x = _nchw(images)
    for _ in range(iterations):
        x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return _nhwc(x)


def _zscore(x: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.float()
    axes = tuple(range(1, x.dim()))
    mean = x.mean(dim=axes, keepdim=True)
    var = (x - mean).square().mean(dim=axes, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


@functools.lru_cache(maxsize=8)
def _mel_matrix(sample_rate, n_fft, n_mels, f_min, f_max) -> torch.Tensor:
    """``[n_fft // 2 + 1, n_mels]`` mel filter bank, built once per parameter set."""
    return torch.from_numpy(mel_weights(sample_rate, n_fft, n_mels, f_min, f_max).T.astype(np.float32))


def _log_mel(*, sample_rate, n_fft, hop_length, n_mels, f_min, f_max, eps, out_field):
    matrix = _mel_matrix(sample_rate, n_fft, n_mels, f_min, sample_rate / 2 if f_max is None else f_max)
    window = torch.hann_window(n_fft, periodic=True)

    def log_mel(x):
        spectrum = torch.stft(x.float(), n_fft, hop_length=hop_length, window=window, center=False, return_complex=True)
        power = spectrum.abs().square().transpose(1, 2)  # [B, frames, freqs]
        return {out_field: torch.log(power @ matrix + eps)}

    return log_mel


def _mask(flags: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return flags.reshape(-1, *([1] * (like.dim() - 1)))


def deterministic_op(t: Transform, fields: dict) -> Callable[[Any], Any]:
    """``fn(value) -> value or dict``: ``t`` on a whole batch; ``fields`` is the batch (for
    transforms that read a second field, e.g. ``length_field``)."""
    kw = dict(t.kwargs)
    name = t.name
    if name in ("normalize", "normalize_function"):
        mean, std = torch.tensor(kw["mean"]), torch.tensor(kw["std"])
        return lambda x: (x.float() * kw["scale"] - mean) / std
    if name == "standardize":
        mean, std = torch.tensor(kw["mean"]), torch.tensor(kw["std"])
        return lambda x: (x.float() - mean) / std
    if name == "shift_tokens":
        return lambda w: {"inputs": w[:, :-1], "targets": w[:, 1:]}
    if name == "multiply":
        return lambda x: x.float() * kw["factor"]
    if name == "add":
        return lambda x: x.float() + kw["value"]
    if name == "clip":
        return lambda x: x.float().clamp(kw["low"], kw["high"])
    if name == "log1p":
        return lambda x: torch.log1p(x.float())
    if name == "hash_to_vocabulary":
        return lambda x: _hash(x, kw["vocab_size"], kw["salt"])
    if name == "zscore":
        return lambda x: _zscore(x, kw["eps"])
    if name == "box_blur":
        return lambda x: _box_blur(x, kw["iterations"])
    if name == "log_mel":
        return _log_mel(**kw)
    if name == "multi_scale_resize":
        def resize(x):
            images = _nchw(x)
            return {out: _nhwc(F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False))
                    for out, size in zip(kw["out_fields"], kw["sizes"])}
        return resize
    if name == "pad_to_length":
        def pad_to_length(x):
            keep = torch.arange(x.shape[1]) < fields[kw["length_field"]].long()[:, None]
            x = torch.where(keep, x, torch.tensor(kw["pad_value"], dtype=x.dtype))[:, : kw["length"]]
            return F.pad(x, (0, kw["length"] - x.shape[1]), value=kw["pad_value"])
        return pad_to_length
    if name == "attention_mask":
        def attention_mask(x):
            mask = torch.arange(x.shape[1]) < fields[kw["length_field"]].long()[:, None]
            return {t.field: x, kw["mask_field"]: mask}
        return attention_mask
    raise ValueError(f"{name!r} is not a deterministic torch op (see adapters.torch_adapter.SUPPORTED)")


def random_op(t: Transform, fields: dict, seed: int, epoch: int, ids: np.ndarray) -> Callable[[Any], Any]:
    """``fn(value) -> value or dict``: ``t`` on a whole batch with one draw per record, keyed by
    (``seed``, ``epoch``, record id)."""
    kw = dict(t.kwargs)
    name = t.name

    def uniforms(count: int) -> np.ndarray:
        return record_uniforms(seed, epoch, ids, count)

    if name == "random_resized_crop":
        return lambda x: resized_crops(x, crop_boxes(uniforms(2 * ATTEMPTS + 2), x.shape[1], x.shape[2],
                                                     kw["scale"], kw["ratio"]), kw["size"])
    if name == "random_horizontal_flip":
        return lambda x: torch.where(_mask(torch.from_numpy(uniforms(1)[:, 0] < kw["p"]), x), x.flip(2), x)
    if name == "random_crop":
        return lambda x: _windows(x, _starts(uniforms(2), x.shape[1:3], kw["size"]), kw["size"])
    if name == "random_crop_3d":
        return lambda x: _windows(x, _starts(uniforms(3), x.shape[1:4], kw["size"]), kw["size"])
    if name == "random_rotate":
        return lambda x: rotated(x, torch.from_numpy((kw["degrees"] * (2.0 * uniforms(1)[:, 0] - 1.0)).astype(np.float32)))
    if name == "random_window":
        def window(x):
            offsets = _starts(uniforms(1), x.shape[1:2], (kw["length"],))
            return {t.field: _windows(x, offsets, (kw["length"],)), kw["offset_field"]: torch.from_numpy(offsets[:, 0].astype(np.int32))}
        return window
    if name in ("mixup", "cutmix"):
        if kw["partner"] != "previous":
            raise ValueError(f"{name}: partner {kw['partner']!r}; valid: 'previous'")
        rng = np.random.default_rng([seed, epoch, int(ids[0])])
        return lambda x: _mix(name, x, fields[kw["label_field"]], rng, kw, t.field)
    if name == "random_apply":
        inner = deterministic_op(Transform.of(kw["op"], field=t.field, **dict(kw["op_params"])), fields)

        def random_apply(x):
            done = inner(x)
            return torch.where(_mask(torch.from_numpy(uniforms(1)[:, 0] < kw["p"]), x), done, x.to(done.dtype))
        return random_apply
    raise ValueError(f"{name!r} is not a random torch op (see adapters.torch_adapter.SUPPORTED)")


def _mix(name: str, images: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator, kw: dict, field: str) -> dict:
    """MixUp or CutMix of each row with the previous one (cyclically), ``λ ~ Beta(α, α)`` per row;
    labels one-hot and mixed with the kept share."""
    images = images.float()
    count, height, width = images.shape[0], images.shape[1], images.shape[2]
    lam = torch.from_numpy(rng.beta(kw["alpha"], kw["alpha"], count).astype(np.float32))
    partner = images.roll(1, dims=0)
    if name == "mixup":
        mixed, kept = torch.lerp(partner, images, lam[:, None, None, None]), lam
    else:
        centre = torch.from_numpy((rng.random((count, 2)) * (height, width)).astype(np.float32))
        half = torch.sqrt(1.0 - lam)[:, None] * torch.tensor([height / 2, width / 2])
        rows = (torch.arange(height) + 0.5 - centre[:, :1]).abs() < half[:, :1]
        cols = (torch.arange(width) + 0.5 - centre[:, 1:]).abs() < half[:, 1:]
        box = rows[:, :, None] & cols[:, None, :]
        mixed = torch.where(box[..., None], partner, images)
        kept = 1.0 - rows.float().mean(1) * cols.float().mean(1)
    hot = labels.float() if labels.dim() == 2 else F.one_hot(labels.long(), kw["classes"]).float()
    mixed_labels = kept[:, None] * hot + (1 - kept[:, None]) * hot.roll(1, dims=0)
    return {field: mixed, kw["label_field"]: mixed_labels}


def apply(transforms: Sequence[Transform], batch: dict, seed: int, epoch: int, ids: np.ndarray, first_step: int = 0) -> dict:
    """``transforms`` in order on ``batch`` (a dict of tensors); random step ``i`` draws with
    ``step_seed(seed, i)``, counting from ``first_step`` (the rest of a split pipeline)."""
    out = dict(batch)
    for step, t in enumerate(transforms, start=first_step):
        if t.name in STOCHASTIC:
            result = random_op(t, out, step_seed(seed, step), epoch, ids)(out[t.field])
        else:
            result = deterministic_op(t, out)(out[t.field])
        if isinstance(result, dict):
            del out[t.field]
            out.update(result)
        else:
            out[t.field] = result
    return out
