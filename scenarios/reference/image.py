"""NumPy image transforms over a batch of HWC images, matching ``datarax.operators.image``.

Resampling is bilinear with half-pixel centres and edge clamping; crop boxes follow the
torchvision ``RandomResizedCrop`` sampling (10 attempts, then a centre crop).
"""

from __future__ import annotations

import math

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sample_resized_crop_boxes(
    rng: np.random.Generator,
    count: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    attempts: int = 10,
) -> np.ndarray:
    """Returns an int array ``[count, 4]`` of ``(top, left, crop_h, crop_w)``."""
    area = height * width
    target = area * rng.uniform(scale[0], scale[1], size=(count, attempts))
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=(count, attempts)))
    w = np.round(np.sqrt(target * aspect)).astype(np.int64)
    h = np.round(np.sqrt(target / aspect)).astype(np.int64)
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = valid.argmax(axis=1)
    rows = np.arange(count)
    found = valid.any(axis=1)
    fb_h, fb_w = _center_crop_size(height, width, ratio)
    crop_h = np.where(found, h[rows, first], fb_h)
    crop_w = np.where(found, w[rows, first], fb_w)
    u = rng.uniform(size=(count, 2))
    top = np.where(found, np.floor(u[:, 0] * (height - crop_h + 1)), (height - crop_h) // 2)
    left = np.where(found, np.floor(u[:, 1] * (width - crop_w + 1)), (width - crop_w) // 2)
    return np.stack([top, left, crop_h, crop_w], axis=1).astype(np.int64)


def _center_crop_size(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int]:
    in_ratio = width / height
    if in_ratio < ratio[0]:
        return int(round(width / ratio[0])), width
    if in_ratio > ratio[1]:
        return height, int(round(height * ratio[1]))
    return height, width


def resize_regions(
    images: np.ndarray,
    boxes: np.ndarray,
    out_size: tuple[int, int],
    flips: np.ndarray | None = None,
) -> np.ndarray:
    """Bilinear resample of each image's box to ``out_size``; ``flips`` mirrors horizontally."""
    count, height, width = images.shape[:3]
    out_h, out_w = out_size
    top, left, crop_h, crop_w = (boxes[:, i : i + 1].astype(np.float32) for i in range(4))
    ys = top + (np.arange(out_h, dtype=np.float32) + 0.5) * (crop_h / out_h) - 0.5
    xs = left + (np.arange(out_w, dtype=np.float32) + 0.5) * (crop_w / out_w) - 0.5
    if flips is not None:
        xs = np.where(flips[:, None], xs[:, ::-1], xs)
    y0, y1, fy = _neighbours(ys, height)
    x0, x1, fx = _neighbours(xs, width)
    b = np.arange(count)[:, None, None]
    img = images
    top_row = img[b, y0[:, :, None], x0[:, None, :]] * (1 - fx[:, None, :, None]) + img[
        b, y0[:, :, None], x1[:, None, :]
    ] * fx[:, None, :, None]
    bottom_row = img[b, y1[:, :, None], x0[:, None, :]] * (1 - fx[:, None, :, None]) + img[
        b, y1[:, :, None], x1[:, None, :]
    ] * fx[:, None, :, None]
    fy = fy[:, :, None, None]
    return (top_row * (1 - fy) + bottom_row * fy).astype(np.float32)


def _neighbours(coords: np.ndarray, size: int):
    coords = np.clip(coords, 0.0, size - 1.0)
    low = np.floor(coords)
    low_i = low.astype(np.int64)
    return low_i, np.minimum(low_i + 1, size - 1), (coords - low).astype(np.float32)


def normalize(images: np.ndarray, mean, std, scale: float = 1.0 / 255.0) -> np.ndarray:
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    return ((images.astype(np.float32) * np.float32(scale) - mean) / std).astype(np.float32)


def sample_affine(rng: np.random.Generator, count: int, degrees: float) -> np.ndarray:
    """``[count]`` rotation angles uniform in ``±degrees`` (no shift, no zoom)."""
    return degrees * (2.0 * rng.random(count) - 1.0)


def rotate(images: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Bilinear rotation about the centre; neighbours outside the image count as zero; float32."""
    count, height, width, channels = images.shape
    theta = np.deg2rad(angles_deg).astype(np.float32)[:, None]
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float32) - cy, np.arange(width, dtype=np.float32) - cx, indexing="ij")
    ys, xs = ys.ravel()[None], xs.ravel()[None]
    src_y, src_x = cos * ys - sin * xs + cy, sin * ys + cos * xs + cx
    y0, x0 = np.floor(src_y), np.floor(src_x)
    fy, fx = src_y - y0, src_x - x0
    flat = images.astype(np.float32).reshape(count, height * width, channels)
    out = np.zeros_like(flat)
    rows = np.arange(count)[:, None]
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        y, x = (y0 + dy).astype(np.int64), (x0 + dx).astype(np.int64)
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        index = np.clip(y, 0, height - 1) * width + np.clip(x, 0, width - 1)
        out += np.where(inside, weight, 0.0)[..., None] * flat[rows, index]
    return out.reshape(images.shape).astype(np.float32)


def random_crop(images: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A uniformly placed ``size`` window of each image."""
    height, width = images.shape[1:3]
    tops = rng.integers(0, height - size[0] + 1, len(images))
    lefts = rng.integers(0, width - size[1] + 1, len(images))
    return np.stack([im[t : t + size[0], l : l + size[1]] for im, t, l in zip(images, tops, lefts)])


def resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of whole images ``[B, H, W, C]`` to ``size`` (half-pixel centres), float32."""
    count, height, width = images.shape[:3]
    boxes = np.tile(np.array([[0, 0, height, width]], np.float32), (count, 1))
    return resize_regions(images, boxes, tuple(size))


def locate_window(images: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """``[B, 2]`` ``(top, left)`` of the window of each image whose first line is closest to the
    crop's first line: where a loader's random crop was cut, to compare it exactly."""
    h, w = crops.shape[1:3]
    found = []
    for image, crop in zip(images.astype(np.float32), crops.astype(np.float32)):
        lines = np.lib.stride_tricks.sliding_window_view(image[: image.shape[0] - h + 1], w, axis=1)
        score = np.abs(lines - np.moveaxis(crop[0], -1, 0)[None, None]).sum(axis=(-2, -1))  # [H-h+1, W-w+1]
        found.append(np.unravel_index(np.argmin(score), score.shape))
    return np.asarray(found, np.int64)
