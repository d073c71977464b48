"""The scenarios' transforms as TensorFlow ops on whole batches, for the tf.data adapter.

Every op takes the batch's value (and, for random ops, a stateless seed) and returns the new
value or a dict of new fields. Random parameters are drawn with TensorFlow's stateless random
ops as ``[batch]`` vectors, one row per record, from a seed keyed by (job seed, step, batch
counter): a batch's draws are a pure function of its position in the stream, so two iterators
of one seed agree, a checkpointed iterator resumes them, and each epoch draws afresh.

Image work follows ``tf.image``'s batched ops: RandomResizedCrop is one
``tf.image.crop_and_resize`` with a box per record (the boxes placed on the half-pixel grid of
an edge-padded image, which is bilinear resampling with half-pixel centres and edge clamping),
rotation one ``ImageProjectiveTransformV3`` with a matrix per record, the log-mel spectrogram
``tf.signal.stft`` and a mel matrix built once.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from scenarios import Transform
from scenarios.reference import STOCHASTIC
from scenarios.reference.audio import mel_weights

SUPPORTED = frozenset({
    "random_resized_crop", "random_horizontal_flip", "normalize", "shift_tokens", "standardize", "multiply", "add",
    "clip", "log1p", "hash_to_vocabulary", "pad_to_length", "pad_to_bucket", "attention_mask", "random_crop_3d",
    "zscore", "random_rotate", "random_crop", "multi_scale_resize", "random_window", "log_mel", "mixup", "cutmix",
    "random_apply", "box_blur",
})
ATTEMPTS = 10  # RandomResizedCrop's tries before its centre-crop fallback


def _uniform(tf, shape, seed):
    return tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)


def _integers(tf, count, high, seed):
    """``[count]`` int32 uniform in ``[0, high)``."""
    return tf.random.stateless_uniform([count], seed=seed, minval=0, maxval=high, dtype=tf.int32)


def _seeds(tf, seed, count: int) -> list:
    """``count`` independent stateless seeds from one."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=count))


def crop_boxes(tf, seed, count, height: int, width: int, scale, ratio):
    """``[count]`` × (top, left, crop_h, crop_w) float32 by RandomResizedCrop's sampling:
    10 tries of (area, aspect), the first that fits, else the centre crop."""
    s_area, s_aspect, s_place = _seeds(tf, seed, 3)
    area = float(height * width)
    target = area * (scale[0] + (scale[1] - scale[0]) * tf.cast(_uniform(tf, [count, ATTEMPTS], s_area), tf.float64))
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = tf.exp(log_lo + (log_hi - log_lo) * tf.cast(_uniform(tf, [count, ATTEMPTS], s_aspect), tf.float64))
    w, h = tf.round(tf.sqrt(target * aspect)), tf.round(tf.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    found = tf.reduce_any(fits, axis=1)
    in_ratio = width / height
    fb_h = float(round(width / ratio[0])) if in_ratio < ratio[0] else float(height)
    fb_w = float(round(height * ratio[1])) if in_ratio > ratio[1] else float(width)
    crop_h = tf.where(found, tf.gather(h, first, batch_dims=1), fb_h)
    crop_w = tf.where(found, tf.gather(w, first, batch_dims=1), fb_w)
    u = tf.cast(_uniform(tf, [count, 2], s_place), tf.float64)
    top = tf.where(found, tf.floor(u[:, 0] * (height - crop_h + 1)), float((height - fb_h) // 2))
    left = tf.where(found, tf.floor(u[:, 1] * (width - crop_w + 1)), float((width - fb_w) // 2))
    return [tf.cast(v, tf.float32) for v in (top, left, crop_h, crop_w)]


def resized_crops(tf, images, top, left, crop_h, crop_w, size):
    """Each image's box resampled to ``size`` by one ``crop_and_resize``.

    ``crop_and_resize`` samples ``out`` points from a box's first to its last coordinate; the
    box is set so that they fall on the half-pixel centres of the crop, in an image padded by
    one edge-replicated pixel (so samples past the border read the border: edge clamping).
    """
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    padded = tf.pad(tf.cast(images, tf.float32), [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")

    def span(start, length, out, extent):
        first = start + 0.5 * length / out - 0.5 + 1.0  # +1: the padding
        last = first + (out - 1) * length / out
        return first / (extent + 1), last / (extent + 1)  # normalized by the padded extent - 1

    y1, y2 = span(top, crop_h, size[0], height)
    x1, x2 = span(left, crop_w, size[1], width)
    boxes = tf.stack([y1, x1, y2, x2], axis=1)
    return tf.image.crop_and_resize(padded, boxes, tf.range(count), list(size), method="bilinear")


def _window(tf, images, tops, lefts, size):
    """Each image's ``size`` window at (top, left): two batched gathers."""
    rows = tops[:, None] + tf.range(size[0])
    cols = lefts[:, None] + tf.range(size[1])
    return tf.gather(tf.gather(images, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def _rotation_matrices(tf, angles_deg, height: int, width: int):
    """``[B, 8]`` projective transforms mapping output pixels to the input, rotated about the centre."""
    theta = angles_deg * (math.pi / 180.0)
    cos, sin = tf.cos(theta), tf.sin(theta)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    zero = tf.zeros_like(cos)
    # (x, y) -> (cos·x + sin·y + a2, -sin·x + cos·y + b2): src = R·(out - centre) + centre.
    return tf.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy, zero, zero], axis=1)


def _mix_partner(tf, x):
    """Each row's partner: the previous row of the batch, cyclically."""
    return tf.roll(x, shift=1, axis=0)


def _beta(tf, seed, count, alpha: float):
    """``[count]`` Beta(α, α) draws as a ratio of two stateless gammas."""
    s1, s2 = _seeds(tf, seed, 2)
    g1 = tf.random.stateless_gamma([count], seed=s1, alpha=alpha)
    g2 = tf.random.stateless_gamma([count], seed=s2, alpha=alpha)
    return g1 / (g1 + g2)


def _one_hot(tf, labels, classes):
    return labels if labels.dtype == tf.float32 else tf.one_hot(labels, classes, dtype=tf.float32)


def _mix_labels(tf, labels, lam, classes):
    hot = _one_hot(tf, labels, classes)
    return lam[:, None] * hot + (1 - lam[:, None]) * _mix_partner(tf, hot)


def _hash(tf, values, vocab_size: int, salt: int):
    """murmur3's 32-bit finaliser in wrapping uint32 arithmetic, then ``% vocab_size``."""
    x = tf.bitwise.bitwise_xor(tf.cast(values, tf.uint32), tf.constant(salt, tf.uint32))
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(shift, tf.uint32)))
        x = x * tf.constant(multiplier, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
    return tf.cast(x % tf.constant(vocab_size, tf.uint32), tf.int32)


def _box_blur(tf, images, iterations: int):
    """``iterations`` 3×3 means with edge-replicated borders: a pad and a VALID ``avg_pool2d`` each."""
    x = tf.cast(images, tf.float32)
    for _ in range(iterations):
        x = tf.nn.avg_pool2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC"), 3, 1, "VALID")
    return x


def _zscore(tf, x, eps: float):
    x = tf.cast(x, tf.float32)
    axes = list(range(1, x.shape.rank))
    mean = tf.reduce_mean(x, axis=axes, keepdims=True)
    var = tf.reduce_mean(tf.square(x - mean), axis=axes, keepdims=True)
    return (x - mean) / tf.sqrt(var + eps)


def _log_mel(tf, waves, *, sample_rate, n_fft, hop_length, n_mels, f_min, f_max, eps, out_field):
    weights = mel_weights(sample_rate, n_fft, n_mels, f_min, sample_rate / 2 if f_max is None else f_max)
    matrix = tf.constant(weights.T.astype(np.float32))  # [n_fft // 2 + 1, n_mels], built once

    def log_mel(x):
        spectrum = tf.signal.stft(tf.cast(x, tf.float32), frame_length=n_fft, frame_step=hop_length,
                                  fft_length=n_fft, window_fn=tf.signal.hann_window, pad_end=False)
        return {out_field: tf.math.log(tf.matmul(tf.square(tf.abs(spectrum)), matrix) + eps)}

    return log_mel


def deterministic_op(tf, t: Transform, fields: dict) -> Callable[[Any], Any]:
    """``fn(value) -> value or dict``: ``t`` on a whole batch; ``fields`` is the batch (for
    transforms that read a second field, e.g. ``length_field``)."""
    kw = dict(t.kwargs)
    name = t.name
    if name in ("normalize", "normalize_function"):
        mean, std = tf.constant(kw["mean"], tf.float32), tf.constant(kw["std"], tf.float32)
        return lambda x: (tf.cast(x, tf.float32) * kw["scale"] - mean) / std
    if name == "standardize":
        mean, std = tf.constant(kw["mean"], tf.float32), tf.constant(kw["std"], tf.float32)
        return lambda x: (tf.cast(x, tf.float32) - mean) / std
    if name == "shift_tokens":
        return lambda w: {"inputs": w[:, :-1], "targets": w[:, 1:]}
    if name == "multiply":
        return lambda x: tf.cast(x, tf.float32) * kw["factor"]
    if name == "add":
        return lambda x: tf.cast(x, tf.float32) + kw["value"]
    if name == "clip":
        return lambda x: tf.clip_by_value(tf.cast(x, tf.float32), kw["low"], kw["high"])
    if name == "log1p":
        return lambda x: tf.math.log1p(tf.cast(x, tf.float32))
    if name == "hash_to_vocabulary":
        return lambda x: _hash(tf, x, kw["vocab_size"], kw["salt"])
    if name == "zscore":
        return lambda x: _zscore(tf, x, kw["eps"])
    if name == "box_blur":
        return lambda x: _box_blur(tf, x, kw["iterations"])
    if name == "log_mel":
        return _log_mel(tf, None, **kw)
    if name == "multi_scale_resize":
        return lambda x: {out: tf.image.resize(tf.cast(x, tf.float32), list(size), method="bilinear")
                          for out, size in zip(kw["out_fields"], kw["sizes"])}
    if name == "pad_to_length":
        def pad_to_length(x):
            lengths = fields[kw["length_field"]]
            keep = tf.sequence_mask(lengths, tf.shape(x)[1])
            x = tf.where(keep, x, tf.cast(kw["pad_value"], x.dtype))[:, : kw["length"]]
            return tf.pad(x, [[0, 0], [0, kw["length"] - tf.shape(x)[1]]], constant_values=kw["pad_value"])
        return pad_to_length
    if name == "attention_mask":
        def attention_mask(x):
            mask = tf.sequence_mask(fields[kw["length_field"]], tf.shape(x)[1])
            return {t.field: x, kw["mask_field"]: mask}
        return attention_mask
    raise ValueError(f"{name!r} is not a deterministic tf.data op; known: {sorted(SUPPORTED - STOCHASTIC)}")


def random_op(tf, t: Transform, fields: dict) -> Callable[[Any, Any], Any]:
    """``fn(value, seed) -> value or dict``: ``t`` on a whole batch, one draw per record."""
    kw = dict(t.kwargs)
    name = t.name
    if name == "random_resized_crop":
        def crop(images, seed):
            boxes = crop_boxes(tf, seed, tf.shape(images)[0], images.shape[1], images.shape[2], kw["scale"], kw["ratio"])
            return resized_crops(tf, images, *boxes, kw["size"])
        return crop
    if name == "random_horizontal_flip":
        def flip(images, seed):
            flips = _uniform(tf, [tf.shape(images)[0]], seed) < kw["p"]
            return tf.where(flips[:, None, None, None], tf.reverse(images, [2]), images)
        return flip
    if name == "random_crop":
        def random_crop(images, seed):
            s_top, s_left = _seeds(tf, seed, 2)
            count, (h, w) = tf.shape(images)[0], kw["size"]
            tops = _integers(tf, count, images.shape[1] - h + 1, s_top)
            lefts = _integers(tf, count, images.shape[2] - w + 1, s_left)
            return _window(tf, images, tops, lefts, kw["size"])
        return random_crop
    if name == "random_crop_3d":
        def crop_3d(volumes, seed):
            count = tf.shape(volumes)[0]
            out = volumes
            for axis, (size, seed_axis) in enumerate(zip(kw["size"], _seeds(tf, seed, 3)), start=1):
                start = _integers(tf, count, volumes.shape[axis] - size + 1, seed_axis)
                out = tf.gather(out, start[:, None] + tf.range(size), axis=axis, batch_dims=1)
            return out
        return crop_3d
    if name == "random_rotate":
        def rotate(images, seed):
            count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
            angles = kw["degrees"] * (2.0 * _uniform(tf, [count], seed) - 1.0)
            return tf.raw_ops.ImageProjectiveTransformV3(
                images=tf.cast(images, tf.float32), transforms=_rotation_matrices(tf, angles, height, width),
                output_shape=[height, width], fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
        return rotate
    if name == "random_window":
        def window(clips, seed):
            offsets = _integers(tf, tf.shape(clips)[0], clips.shape[1] - kw["length"] + 1, seed)
            cut = tf.gather(clips, offsets[:, None] + tf.range(kw["length"]), axis=1, batch_dims=1)
            return {t.field: cut, kw["offset_field"]: offsets}
        return window
    if name in ("mixup", "cutmix"):
        label_field, classes, alpha = kw["label_field"], kw["classes"], kw["alpha"]
        if kw["partner"] != "previous":
            raise ValueError(f"{name}: partner {kw['partner']!r}; valid: 'previous'")

        def mix(images, seed):
            images = tf.cast(images, tf.float32)
            count = tf.shape(images)[0]
            s_lam, s_centre = _seeds(tf, seed, 2)
            lam = _beta(tf, s_lam, count, alpha)
            partner = _mix_partner(tf, images)
            if name == "mixup":
                mixed = lam[:, None, None, None] * images + (1 - lam[:, None, None, None]) * partner
                kept = lam
            else:
                height, width = images.shape[1], images.shape[2]
                centre = _uniform(tf, [count, 2], s_centre) * tf.constant([height, width], tf.float32)
                half = tf.sqrt(1.0 - lam)[:, None] * tf.constant([height / 2, width / 2], tf.float32)
                rows = tf.abs(tf.range(height, dtype=tf.float32)[None] + 0.5 - centre[:, :1]) < half[:, :1]
                cols = tf.abs(tf.range(width, dtype=tf.float32)[None] + 0.5 - centre[:, 1:]) < half[:, 1:]
                box = rows[:, :, None] & cols[:, None, :]
                mixed = tf.where(box[..., None], partner, images)
                area = tf.reduce_mean(tf.cast(rows, tf.float32), 1) * tf.reduce_mean(tf.cast(cols, tf.float32), 1)
                kept = 1.0 - area
            return {t.field: mixed, label_field: _mix_labels(tf, fields[label_field], kept, classes)}
        return mix
    if name == "random_apply":
        inner = deterministic_op(tf, Transform.of(kw["op"], field=t.field, **dict(kw["op_params"])), fields)

        def random_apply(x, seed):
            applied = _uniform(tf, [tf.shape(x)[0]], seed) < kw["p"]
            done = inner(x)
            return tf.where(tf.reshape(applied, [-1] + [1] * (x.shape.rank - 1)), done, tf.cast(x, done.dtype))
        return random_apply
    raise ValueError(f"{name!r} is not a random tf.data op; known: {sorted(SUPPORTED & STOCHASTIC)}")


def apply(tf, transforms, batch: dict, seed) -> dict:
    """``transforms`` in order on ``batch``; random step ``i`` draws from ``fold(seed, i)``."""
    out = dict(batch)
    for step, t in enumerate(transforms):
        if t.name in STOCHASTIC:
            step_seed = tf.random.experimental.stateless_fold_in(seed, step)
            result = random_op(tf, t, out)(out[t.field], step_seed)
        else:
            result = deterministic_op(tf, t, out)(out[t.field])
        if isinstance(result, dict):
            del out[t.field]
            out.update(result)
        else:
            out[t.field] = result
    return out
