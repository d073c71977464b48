"""Per-image functions (one HWC image, no batch axis), pure JAX, for use inside operators.

Conventions shared with the benchmark's NumPy references (``scenarios/reference``):
resampling is bilinear with half-pixel centres and edge clamping, computed as two small
interpolation matrices (rows, then columns) so it runs as matmuls rather than gathers; crops
follow torchvision's ``RandomResizedCrop`` parameter sampling (10 attempts, then a centre
crop). Stochastic transforms split into ``sample_*`` (parameters from a key) and a
deterministic part, so each half can be checked on its own. Each sampler makes a single draw
from its key: every traced threefry costs XLA compile time, not just run time.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_HIGHEST = jax.lax.Precision.HIGHEST
_GRAY = (0.299, 0.587, 0.114)


def sample_resized_crop_box(
    key: jax.Array,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns ``(top, left, crop_h, crop_w)`` as int32 scalars."""
    u = jax.random.uniform(key, (2 * attempts + 2,))
    area = height * width
    target_area = area * (scale[0] + (scale[1] - scale[0]) * u[:attempts])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = jnp.exp(log_lo + (log_hi - log_lo) * u[attempts : 2 * attempts])
    w = jnp.round(jnp.sqrt(target_area * aspect)).astype(jnp.int32)
    h = jnp.round(jnp.sqrt(target_area / aspect)).astype(jnp.int32)
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = jnp.argmax(valid)
    fallback_h, fallback_w = _center_crop_size(height, width, ratio)
    found = valid.any()
    crop_h = jnp.where(found, h[first], fallback_h)
    crop_w = jnp.where(found, w[first], fallback_w)
    u_top, u_left = u[2 * attempts], u[2 * attempts + 1]
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


def interpolation_matrix(coords: jax.Array, size: int) -> jax.Array:
    """``[len(coords), size]`` bilinear weights: row ``o`` puts ``1-f`` and ``f`` on the two
    source pixels around ``coords[o]`` (clamped to the edge)."""
    coords = jnp.clip(coords, 0.0, size - 1.0)
    low = jnp.floor(coords)
    frac = (coords - low)[:, None]
    low_i = low.astype(jnp.int32)
    high_i = jnp.minimum(low_i + 1, size - 1)
    return (1.0 - frac) * jax.nn.one_hot(low_i, size) + frac * jax.nn.one_hot(high_i, size)


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
    rows = interpolation_matrix(ys, height)
    cols = interpolation_matrix(xs, width)
    image = image.astype(jnp.float32)
    out = jnp.einsum("oh,hwc->owc", rows, image, precision=_HIGHEST)
    return jnp.einsum("pw,owc->opc", cols, out, precision=_HIGHEST)


def resize(image: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Bilinear resize of the whole image to ``size`` (float32)."""
    return resize_region(image, 0, 0, image.shape[0], image.shape[1], size)


def random_resized_crop(
    image: jax.Array,
    key: jax.Array,
    out_size: tuple[int, int],
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> jax.Array:
    box = sample_resized_crop_box(key, image.shape[0], image.shape[1], scale, ratio)
    return resize_region(image, *box, out_size)


def sample_crop_offset(key: jax.Array, height: int, width: int, size: tuple[int, int]):
    """Uniform ``(top, left)`` of a ``size`` window inside a ``height × width`` image."""
    u = jax.random.uniform(key, (2,))
    spans = jnp.array([height - size[0] + 1, width - size[1] + 1], jnp.float32)
    top, left = jnp.minimum(jnp.floor(u * spans), spans - 1).astype(jnp.int32)
    return top, left


def crop(image: jax.Array, top, left, size: tuple[int, int], padding: int = 0) -> jax.Array:
    """The ``size`` window at ``(top, left)`` of the image zero-padded by ``padding``."""
    if padding:
        image = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    return jax.lax.dynamic_slice(image, (top, left, 0), (*size, image.shape[2]))


def random_crop(image: jax.Array, key: jax.Array, size: tuple[int, int], padding: int = 0):
    top, left = sample_crop_offset(key, image.shape[0] + 2 * padding, image.shape[1] + 2 * padding, size)
    return crop(image, top, left, size, padding)


def flip(image: jax.Array, do_flip: jax.Array | bool, axis: int = 1) -> jax.Array:
    """Mirrors along ``axis`` (1: horizontal, 0: vertical) when ``do_flip``."""
    return jnp.where(do_flip, jnp.flip(image, axis=axis), image)


def random_horizontal_flip(image: jax.Array, key: jax.Array, p: float = 0.5) -> jax.Array:
    return flip(image, jax.random.bernoulli(key, p), axis=1)


def normalize(image: jax.Array, mean, std, scale: float = 1.0 / 255.0) -> jax.Array:
    """``(image * scale - mean) / std`` in float32, per channel (last axis)."""
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    return (image.astype(jnp.float32) * scale - mean) / std


def grayscale(image: jax.Array) -> jax.Array:
    """ITU-R 601 luma ``[H, W, 1]`` of an RGB image (a 1-channel image is returned as is)."""
    if image.shape[-1] == 1:
        return image
    return jnp.tensordot(image, jnp.asarray(_GRAY, image.dtype), axes=([2], [0]))[..., None]


def _blend(image, other, factor, max_value):
    return jnp.clip(factor * image + (1.0 - factor) * other, 0.0, max_value)


def adjust_brightness(image, factor, max_value: float = 1.0):
    """``clip(image * factor)`` (torchvision semantics)."""
    return _blend(image, 0.0, factor, max_value)


def adjust_contrast(image, factor, max_value: float = 1.0):
    """Blend with the mean luma: ``clip(f * image + (1 - f) * mean(gray(image)))``."""
    return _blend(image, jnp.mean(grayscale(image)), factor, max_value)


def adjust_saturation(image, factor, max_value: float = 1.0):
    """Blend with the luma image: ``clip(f * image + (1 - f) * gray(image))``."""
    return _blend(image, grayscale(image), factor, max_value)


def sample_factors(key: jax.Array, strengths: tuple[float, ...]) -> jax.Array:
    """One factor per strength ``s``, uniform in ``[max(0, 1 - s), 1 + s]``."""
    low = jnp.array([max(0.0, 1.0 - s) for s in strengths], jnp.float32)
    high = jnp.array([1.0 + s for s in strengths], jnp.float32)
    return low + (high - low) * jax.random.uniform(key, (len(strengths),))


def color_jitter(image, key, brightness=0.0, contrast=0.0, saturation=0.0, max_value=1.0):
    """Brightness, contrast, saturation with factors from ``key``, in that fixed order."""
    factors = sample_factors(key, (brightness, contrast, saturation))
    image = image.astype(jnp.float32)
    if brightness:
        image = adjust_brightness(image, factors[0], max_value)
    if contrast:
        image = adjust_contrast(image, factors[1], max_value)
    if saturation:
        image = adjust_saturation(image, factors[2], max_value)
    return image


def gaussian_noise(image, key, std: float, clip: tuple[float, float] | None = None):
    """``image + std * N(0, 1)`` in float32, optionally clipped to ``clip``."""
    out = image.astype(jnp.float32) + std * jax.random.normal(key, image.shape, jnp.float32)
    return out if clip is None else jnp.clip(out, *clip)


def affine_matrix(angle_deg, translate, scale) -> jax.Array:
    """The 2×3 map from output to input pixel coordinates ``(y, x)`` about the image centre:
    the inverse of rotating by ``angle_deg``, scaling by ``scale`` then translating."""
    theta = jnp.deg2rad(angle_deg)
    cos, sin = jnp.cos(theta) / scale, jnp.sin(theta) / scale
    inverse = jnp.array([[cos, -sin], [sin, cos]])
    return jnp.concatenate([inverse, -(inverse @ jnp.asarray(translate, jnp.float32))[:, None]], axis=1)


def affine(image: jax.Array, matrix: jax.Array) -> jax.Array:
    """Bilinear warp: output pixel ``p`` (centred coords) reads input at ``matrix @ [p, 1]``;
    neighbours outside the image count as zero. Returns float32."""
    height, width, channels = image.shape
    centre = jnp.array([(height - 1) / 2, (width - 1) / 2], jnp.float32)
    ys, xs = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32), indexing="ij")
    points = jnp.stack([ys.ravel(), xs.ravel()]) - centre[:, None]
    src = matrix[:, :2] @ points + matrix[:, 2:] + centre[:, None]
    y0, x0 = jnp.floor(src[0]), jnp.floor(src[1])
    fy, fx = src[0] - y0, src[1] - x0
    flat = jnp.asarray(image, jnp.float32).reshape(height * width, channels)
    out = jnp.zeros((height * width, channels), jnp.float32)
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        y, x = (y0 + dy).astype(jnp.int32), (x0 + dx).astype(jnp.int32)
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        index = jnp.clip(y, 0, height - 1) * width + jnp.clip(x, 0, width - 1)
        out = out + jnp.where(inside, weight, 0.0)[:, None] * flat[index]
    return out.reshape(height, width, channels)


def sample_affine(key, degrees: float, translate: tuple[float, float], scale: tuple[float, float], height: int, width: int):
    """``(angle, (ty, tx), scale)``: angle in ``±degrees``, shifts in ``±translate × size``."""
    u = jax.random.uniform(key, (4,))
    angle = degrees * (2.0 * u[0] - 1.0)
    limit = jnp.array([translate[0] * height, translate[1] * width], jnp.float32)
    shift = (2.0 * u[1:3] - 1.0) * limit
    factor = scale[0] + (scale[1] - scale[0]) * u[3]
    return angle, shift, factor


def random_affine(image, key, degrees=0.0, translate=(0.0, 0.0), scale=(1.0, 1.0)):
    params = sample_affine(key, degrees, translate, scale, image.shape[0], image.shape[1])
    return affine(image, affine_matrix(*params))
