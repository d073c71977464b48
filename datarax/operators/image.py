"""Per-image functions (one HWC image, no batch dimension), for use inside operators.

Conventions shared with the benchmark's NumPy references (``scenarios/reference``):
resampling is bilinear with half-pixel centres and edge clamping; crops follow the
torchvision ``RandomResizedCrop`` parameter sampling (10 attempts, then a centre crop).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def sample_resized_crop_box(
    key: jax.Array,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns ``(top, left, crop_h, crop_w)`` as int32 scalars."""
    k_area, k_ratio, k_top, k_left = jax.random.split(key, 4)
    area = height * width
    target_area = area * jax.random.uniform(k_area, (attempts,), minval=scale[0], maxval=scale[1])
    log_ratio = jax.random.uniform(
        k_ratio, (attempts,), minval=math.log(ratio[0]), maxval=math.log(ratio[1])
    )
    aspect = jnp.exp(log_ratio)
    w = jnp.round(jnp.sqrt(target_area * aspect)).astype(jnp.int32)
    h = jnp.round(jnp.sqrt(target_area / aspect)).astype(jnp.int32)
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = jnp.argmax(valid)
    fallback_h, fallback_w = _center_crop_size(height, width, ratio)
    found = valid.any()
    crop_h = jnp.where(found, h[first], fallback_h)
    crop_w = jnp.where(found, w[first], fallback_w)
    u_top, u_left = jax.random.uniform(k_top), jax.random.uniform(k_left)
    top = jnp.where(found, jnp.floor(u_top * (height - crop_h + 1)), (height - crop_h) // 2)
    left = jnp.where(found, jnp.floor(u_left * (width - crop_w + 1)), (width - crop_w) // 2)
    return top.astype(jnp.int32), left.astype(jnp.int32), crop_h, crop_w


def _center_crop_size(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int]:
    in_ratio = width / height
    if in_ratio < ratio[0]:
        return int(round(width / ratio[0])), width
    if in_ratio > ratio[1]:
        return height, int(round(height * ratio[1]))
    return height, width


def resize_region(
    image: jax.Array,
    top: jax.Array,
    left: jax.Array,
    crop_h: jax.Array,
    crop_w: jax.Array,
    out_size: tuple[int, int],
    flip: jax.Array | bool = False,
) -> jax.Array:
    """Bilinearly resamples the region ``[top:top+crop_h, left:left+crop_w]`` to ``out_size``.

    ``flip`` mirrors the output horizontally. Returns float32.
    """
    out_h, out_w = out_size
    height, width = image.shape[0], image.shape[1]
    ys = top + (jnp.arange(out_h, dtype=jnp.float32) + 0.5) * (crop_h / out_h) - 0.5
    xs = left + (jnp.arange(out_w, dtype=jnp.float32) + 0.5) * (crop_w / out_w) - 0.5
    xs = jnp.where(flip, xs[::-1], xs)
    image = image.astype(jnp.float32)
    rows = _interp_axis(image, ys, height, axis=0)
    return _interp_axis(rows, xs, width, axis=1)


def _interp_axis(image: jax.Array, coords: jax.Array, size: int, axis: int) -> jax.Array:
    coords = jnp.clip(coords, 0.0, size - 1.0)
    low = jnp.floor(coords)
    frac = coords - low
    low_i = low.astype(jnp.int32)
    high_i = jnp.minimum(low_i + 1, size - 1)
    a = jnp.take(image, low_i, axis=axis)
    b = jnp.take(image, high_i, axis=axis)
    shape = [1] * image.ndim
    shape[axis] = coords.shape[0]
    frac = frac.reshape(shape)
    return a * (1.0 - frac) + b * frac


def random_resized_crop(
    image: jax.Array,
    key: jax.Array,
    out_size: tuple[int, int],
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> jax.Array:
    box = sample_resized_crop_box(key, image.shape[0], image.shape[1], scale, ratio)
    return resize_region(image, *box, out_size)


def random_horizontal_flip(image: jax.Array, key: jax.Array, p: float = 0.5) -> jax.Array:
    return jnp.where(jax.random.bernoulli(key, p), image[:, ::-1], image)


def normalize(image: jax.Array, mean, std, scale: float = 1.0 / 255.0) -> jax.Array:
    """``(image * scale - mean) / std`` in float32, per channel (last axis)."""
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    return (image.astype(jnp.float32) * scale - mean) / std
