"""The scenarios' transforms as DALI CPU operators, applied per sample to a pipeline's DataNodes.

Image ops: ``random_resized_crop`` (bilinear, no antialiasing, float output), flip + normalize
fused in ``crop_mirror_normalize`` (its mirror flag a per-sample ``coin_flip``), ``rotate``,
``crop``, ``resize``, ``filter`` (IO-4's box blur, edge-clamped); signals: ``slice``,
``normalize``, ``spectrogram`` + ``mel_filter_bank``; text: ``slice`` to the length and ``pad``
to a fixed or bucket-aligned width (DALI's ragged batches, ``pad(align=...)``); batch mixing:
the partner row via ``permute_batch``, ``λ`` from ``random.beta``, the blend or CutMix box in
DALI's broadcasting arithmetic, labels through ``one_hot``. Random draws come from DALI's
seeded per-operator generators, which pipeline checkpoints capture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.base import Job

SUPPORTED = frozenset(
    {
        "random_resized_crop", "random_horizontal_flip", "normalize", "shift_tokens", "standardize", "multiply", "add",
        "clip", "random_rotate", "random_crop", "random_crop_3d", "zscore", "multi_scale_resize", "random_window",
        "log_mel", "random_apply", "log1p", "hash_to_vocabulary", "pad_to_length", "pad_to_bucket", "attention_mask",
        "mixup", "cutmix", "box_blur",
    }
)


# Transforms whose output is float32 whatever their input.
_FLOAT_OUTPUTS = frozenset({
    "random_resized_crop", "normalize", "standardize", "zscore", "multiply", "add", "clip", "random_apply", "log1p",
    "box_blur", "mixup", "cutmix",
})


def _anchor(fn):
    """A uniform crop anchor in [0, 1] (DALI's ``crop_pos_*``), drawn per sample by DALI's seeded RNG."""
    return fn.random.uniform(range=[0.0, 1.0])


def _arithmetic(types, op: str, params: dict[str, float], x):
    """``multiply`` by ``factor`` or ``add`` ``value`` with DALI's float32 arithmetic operators."""
    if op == "multiply":
        return x * types.Constant(np.float32(params["factor"]))
    return x + types.Constant(np.float32(params["value"]))


def _hash_to_vocabulary(fn, types, x, vocab_size: int, salt: int):
    """murmur3's fmix32 of ``uint32(x) ^ salt``, modulo ``vocab_size``, in DALI's wrapping uint32
    arithmetic (a right shift by k is a floor division by 2**k on unsigned values)."""

    def u32(value):
        return types.Constant(np.uint32(value))

    x = fn.cast(x, dtype=types.UINT32) ^ u32(salt)
    x = (x ^ (x // u32(1 << 16))) * u32(0x85EBCA6B)
    x = (x ^ (x // u32(1 << 13))) * u32(0xC2B2AE35)
    x = x ^ (x // u32(1 << 16))
    return fn.cast(x - (x // u32(vocab_size)) * u32(vocab_size), dtype=types.INT32)


def graph(fn, types, job: Job, nodes: dict[str, Any]) -> dict[str, Any]:
    """Applies the scenario's transforms to the named DataNodes with DALI operators."""
    from nvidia.dali import math as dmath

    mirror = None  # a pending flip, fused into the following normalize when there is one
    masks = {}  # field -> its attention mask, built where the field is padded
    # Fields already float32: a cast of one would be a copy, and would split DALI's fused arithmetic.
    floats = {f.name for f in job.scenario.input_fields(job.variant) if f.dtype == "float32"}

    def as_float(node, field: str):
        return node if field in floats else fn.cast(node, dtype=types.FLOAT)

    for t in job.scenario.transforms(job.variant):
        kw, x = t.kwargs, nodes.pop(t.field)
        if t.name == "random_resized_crop":
            x = fn.random_resized_crop(
                x, size=list(kw["size"]), random_area=list(kw["scale"]), random_aspect_ratio=list(kw["ratio"]),
                num_attempts=10, interp_type=types.INTERP_LINEAR, antialias=False, dtype=types.FLOAT,
            )
        elif t.name == "multi_scale_resize":  # one bilinear resize per scale, half-pixel centres, float out
            for field, size in zip(kw["out_fields"], kw["sizes"]):
                nodes[field] = fn.resize(x, size=list(size), interp_type=types.INTERP_LINEAR, antialias=False,
                                         dtype=types.FLOAT)
            continue
        elif t.name == "random_window":
            span = int(job.scenario.input_fields(job.variant)[0].shape[0]) - kw["length"]
            start = fn.cast(dmath.floor(fn.random.uniform(range=[0.0, span + 1.0])), dtype=types.INT32)
            nodes[kw["offset_field"]] = start
            x = fn.slice(x, start=fn.reshape(start, shape=[1]), shape=[kw["length"]], axes=[0])
        elif t.name == "log_mel":  # |STFT|^2 (unpadded frames, periodic Hann) → HTK mel bands → log
            n_fft, rate = kw["n_fft"], kw["sample_rate"]
            hann = (0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))).astype(np.float32)
            spec = fn.spectrogram(x, nfft=n_fft, window_length=n_fft, window_step=kw["hop_length"], power=2,
                                  center_windows=False, window_fn=hann.tolist(), layout="tf")
            mel = fn.mel_filter_bank(spec, sample_rate=rate, nfilter=kw["n_mels"], freq_low=kw["f_min"],
                                     freq_high=kw["f_max"] or rate / 2, mel_formula="htk", normalize=False)
            nodes[kw["out_field"]] = dmath.log(mel + types.Constant(np.float32(kw["eps"])))
            continue
        elif t.name == "random_apply":  # a per-sample coin decides; the blend is exact for a coin of 0 or 1
            coin = fn.cast(fn.random.coin_flip(probability=kw["p"]), dtype=types.FLOAT)
            x = as_float(x, t.field)
            x = coin * _arithmetic(types, kw["op"], dict(kw["op_params"]), x) + (types.Constant(np.float32(1)) - coin) * x
        elif t.name == "log1p":
            x = dmath.log(as_float(x, t.field) + types.Constant(np.float32(1)))
        elif t.name == "hash_to_vocabulary":
            x = _hash_to_vocabulary(fn, types, x, kw["vocab_size"], kw["salt"])
        elif t.name == "pad_to_length":  # cut at the row's length (and at L), pad to L
            length = dmath.min(nodes[kw["length_field"]], types.Constant(np.int32(kw["length"])))
            x = fn.slice(x, start=[0], shape=fn.reshape(length, shape=[1]), axes=[0])
            masks[t.field] = fn.pad(x == x, axes=[0], shape=[kw["length"]], fill_value=0)
            x = fn.pad(x, axes=[0], shape=[kw["length"]], fill_value=kw["pad_value"])
        elif t.name == "pad_to_bucket":  # ragged rows cut at max_len, padded to the batch's longest, bucket-aligned
            if kw["max_len"] % kw["bucket_size"]:
                raise ValueError(f"max_len {kw['max_len']} is not a multiple of bucket_size {kw['bucket_size']}: "
                                 "DALI's pad(align=...) cannot cap the bucketed width")
            x = fn.slice(x, start=[0], end=[kw["max_len"]], axes=[0], out_of_bounds_policy="trim_to_shape")
            nodes[kw["length_field"]] = x.shape(dtype=types.INT32)[0]
            masks[t.field] = fn.pad(x == x, axes=[0], align=[kw["bucket_size"]], fill_value=0)
            x = fn.pad(x, axes=[0], align=[kw["bucket_size"]], fill_value=kw["pad_value"])
        elif t.name == "attention_mask":  # True where the padding above kept a real token
            nodes[kw["mask_field"]] = masks.pop(t.field) if t.field in masks else x != kw["pad_value"]
        elif t.name in ("mixup", "cutmix"):
            x, nodes[kw["label_field"]] = _mix(fn, types, job, t.name, kw, x, nodes[kw["label_field"]])
        elif t.name == "box_blur":  # 3x3 mean, edge-replicated, in float32, ``iterations`` times
            kernel = types.Constant(np.full((3, 3), 1 / 9, np.float32))
            x = as_float(x, t.field)
            for _ in range(kw["iterations"]):
                x = fn.filter(x, kernel, border="clamp")
        elif t.name == "random_rotate":
            angle = fn.random.uniform(range=[-kw["degrees"], kw["degrees"]])
            x = fn.rotate(x, angle=angle, keep_size=True, fill_value=0, interp_type=types.INTERP_LINEAR)
        elif t.name == "random_crop":
            x = fn.crop(x, crop=list(kw["size"]), crop_pos_x=_anchor(fn), crop_pos_y=_anchor(fn))
        elif t.name == "random_crop_3d":
            (d, h, w), pos = kw["size"], {f"crop_pos_{a}": _anchor(fn) for a in "xyz"}
            x = fn.expand_dims(x, axes=[3], new_axis_names="C")  # crop reads DHWC volumes
            x = fn.squeeze(fn.crop(x, crop_d=d, crop_h=h, crop_w=w, **pos), axes=[3])
        elif t.name == "zscore":  # per-sample mean and variance over every axis, eps added to the variance
            x = fn.normalize(x, epsilon=kw["eps"], dtype=types.FLOAT)
        elif t.name == "random_horizontal_flip":
            mirror = fn.random.coin_flip(probability=kw["p"])
            nodes[t.field] = x
            continue
        elif t.name == "normalize":
            scale = kw["scale"]
            x = fn.crop_mirror_normalize(
                x, mirror=0 if mirror is None else mirror, dtype=types.FLOAT, output_layout="HWC",
                mean=[m / scale for m in kw["mean"]], std=[s / scale for s in kw["std"]],
            )
            mirror = None
        elif t.name == "standardize":
            mean, std = (np.asarray(kw[k], np.float32) for k in ("mean", "std"))
            x = fn.normalize(x, mean=mean, stddev=std, dtype=types.FLOAT)
        elif t.name == "shift_tokens":
            nodes.update(inputs=x[:-1], targets=x[1:])
            continue
        elif t.name in ("multiply", "add"):  # DALI's arithmetic operators, in float32
            x = _arithmetic(types, t.name, kw, as_float(x, t.field))
        elif t.name == "clip":
            x = dmath.clamp(as_float(x, t.field), np.float32(kw["low"]), np.float32(kw["high"]))
        nodes[t.field] = x
        if t.name in _FLOAT_OUTPUTS:
            floats.add(t.field)
        elif t.name == "hash_to_vocabulary":
            floats.discard(t.field)
    if mirror is not None:
        field = next(t.field for t in job.scenario.transforms(job.variant) if t.name == "random_horizontal_flip")
        nodes[field] = fn.flip(nodes[field], horizontal=mirror)
    return nodes


def _mix(fn, types, job: Job, mode: str, kw: dict, image, label):
    """MixUp or CutMix of each row with the previous row of its batch (cyclically): the partner
    batch by ``permute_batch``, one ``λ ~ Beta(α, α)`` per row; labels one-hot, mixed alike."""
    from nvidia.dali import math as dmath

    size = job.variant.batch_size
    previous = [size - 1, *range(size - 1)]
    one = types.Constant(np.float32(1))
    hot = fn.one_hot(label, num_classes=kw["classes"], dtype=types.FLOAT)
    partner, partner_hot = fn.permute_batch(image, indices=previous), fn.permute_batch(hot, indices=previous)
    lam = fn.random.beta(alpha=kw["alpha"], beta=kw["alpha"])
    if mode == "mixup":
        return lam * image + (one - lam) * partner, lam * hot + (one - lam) * partner_hot
    height, width = (int(n) for n in job.scenario.output_fields(job.variant)[0].shape[:2])
    half = dmath.sqrt(one - lam) * types.Constant(np.float32(0.5))

    def inside(extent: int, shape: tuple[int, ...]):  # pixel centres within the box's half-extent of a uniform centre
        centre = fn.random.uniform(range=[0.0, 1.0]) * types.Constant(np.float32(extent))
        grid = types.Constant((np.arange(extent, dtype=np.float32) + 0.5).reshape(shape))
        return fn.cast(dmath.abs(grid - centre) < half * types.Constant(np.float32(extent)), dtype=types.FLOAT)

    rows, cols = inside(height, (height, 1, 1)), inside(width, (1, width, 1))
    box = rows * cols
    kept = one - fn.reductions.mean(rows) * fn.reductions.mean(cols)
    return box * partner + (one - box) * image, kept * hot + (one - kept) * partner_hot
