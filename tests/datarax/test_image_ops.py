"""The JAX image operators agree with the benchmark's NumPy references."""

import jax
import numpy as np

from datarax.operators import image as ops
from scenarios.reference import image as ref


def _images(n=6, size=20):
    return np.random.default_rng(0).integers(0, 256, size=(n, size, size, 3)).astype(np.uint8)


def test_resize_region_matches_numpy_reference_for_the_same_boxes():
    images = _images()
    boxes = np.array([[0, 0, 20, 20], [3, 5, 7, 11], [10, 2, 9, 4], [0, 0, 1, 1], [19, 19, 1, 1], [2, 1, 15, 18]])
    flips = np.array([False, True, False, True, False, True])
    expected = ref.resize_regions(images, boxes, (12, 16), flips)
    got = jax.jit(jax.vmap(lambda img, b, f: ops.resize_region(img, b[0], b[1], b[2], b[3], (12, 16), f)))(
        images, boxes.astype(np.int32), flips
    )
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-3)


def test_identity_box_at_same_size_returns_the_image():
    images = _images(2, 8)
    out = ref.resize_regions(images, np.array([[0, 0, 8, 8]] * 2), (8, 8))
    np.testing.assert_allclose(out, images.astype(np.float32), atol=1e-4)


def test_crop_boxes_stay_inside_and_follow_scale_and_ratio():
    keys = jax.random.split(jax.random.key(0), 2000)
    top, left, h, w = jax.jit(jax.vmap(lambda k: ops.sample_resized_crop_box(k, 64, 48, (0.08, 1.0), (0.75, 4 / 3))))(keys)
    top, left, h, w = map(np.asarray, (top, left, h, w))
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 64).all() and (left + w <= 48).all()
    area = h * w / (64 * 48)
    assert area.min() >= 0.06 and area.max() <= 1.0
    aspect = w / h
    assert aspect.min() > 0.7 and aspect.max() < 1.45
    boxes = ref.sample_resized_crop_boxes(np.random.default_rng(0), 2000, 64, 48, (0.08, 1.0), (0.75, 4 / 3))
    # Same sampling law: mean crop area agrees between the JAX and NumPy samplers.
    np_area = boxes[:, 2] * boxes[:, 3] / (64 * 48)
    assert abs(np_area.mean() - area.mean()) < 0.03


def test_normalize_matches_reference_exactly():
    images = _images()
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.vmap(lambda im: ops.normalize(im, ref.IMAGENET_MEAN, ref.IMAGENET_STD)))(images)),
        ref.normalize(images, ref.IMAGENET_MEAN, ref.IMAGENET_STD),
        rtol=1e-6,
        atol=1e-6,
    )


def test_flip_rate_is_near_p():
    keys = jax.random.split(jax.random.key(1), 4000)
    image = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    flipped = jax.jit(jax.vmap(lambda k: ops.random_horizontal_flip(image, k, 0.5)))(keys)
    rate = float(np.mean(np.asarray(flipped)[:, 0, 0, 0] != image[0, 0, 0]))
    assert 0.45 < rate < 0.55
