"""Image operators against NumPy computations of the same semantics, parameters from the same keys."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax import Pipeline
from datarax.operators import image as I
from datarax.sources import MemorySource
from scenarios.reference import image as ref

GRAY = np.array([0.299, 0.587, 0.114], np.float32)


def _images(n=4, h=12, w=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3)).astype(np.uint8)


def _apply(op, images, epoch=0):
    """The operator on a batch, compiled (as in a pipeline); records have ids 0..n-1."""
    ids = jnp.arange(len(images), dtype=jnp.int32)
    return np.asarray(jax.jit(lambda x: op.apply_batch({"image": x}, ids, jnp.int32(epoch)))(images)["image"])


def _keys(op, n, epoch=0):
    return op.record_keys(jnp.arange(n, dtype=jnp.int32), jnp.int32(epoch))


def _per_record(fn, keys):
    """``fn(key)`` for every record key, as NumPy."""
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(fn))(keys))


def test_pipeline_crop_flip_normalize_matches_the_numpy_reference_for_the_same_keys():
    images = _images(16, 20, 24)
    crop = I.RandomResizedCrop(I.RandomResizedCropConfig(field="image", size=(8, 8)), rngs=nnx.Rngs(3))
    norm = I.Normalize(I.NormalizeConfig(field="image", mean=ref.IMAGENET_MEAN, std=ref.IMAGENET_STD, scale=1 / 255))
    pipeline = Pipeline(MemorySource(data={"image": images}), [crop, norm], batch_size=16)
    got = np.asarray(next(iter(pipeline))["image"])
    boxes = _per_record(lambda k: jnp.stack(I.sample_resized_crop_box(k, 20, 24)), _keys(crop, 16))
    want = ref.normalize(ref.resize_regions(images, boxes, (8, 8)), ref.IMAGENET_MEAN, ref.IMAGENET_STD, 1 / 255)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_resize_matches_the_reference_resampler():
    images = _images()
    got = _apply(I.Resize(I.ResizeConfig(field="image", size=(7, 15))), images)
    want = ref.resize_regions(images, np.array([[0, 0, 12, 10]] * 4), (7, 15))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_random_crop_is_the_padded_window_at_the_sampled_offset():
    images = _images()
    op = I.RandomCrop(I.RandomCropConfig(field="image", size=(8, 9), padding=2), rngs=nnx.Rngs(0))
    got = _apply(op, images)
    offsets = _per_record(lambda k: jnp.stack(I.sample_crop_offset(k, 16, 14, (8, 9))), _keys(op, 4))
    for image, (top, left), out in zip(images, offsets, got):
        padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
        np.testing.assert_array_equal(out, padded[top : top + 8, left : left + 9])


@pytest.mark.parametrize("axis", [0, 1])
def test_random_flip_mirrors_exactly_the_records_whose_coin_came_up(axis):
    images = _images(64)
    op = I.RandomFlip(I.RandomFlipConfig(field="image", p=0.5, axis=axis), rngs=nnx.Rngs(1))
    got = _apply(op, images)
    coins = _per_record(lambda k: jax.random.bernoulli(k, 0.5), _keys(op, 64))
    np.testing.assert_array_equal(got, np.where(coins[:, None, None, None], np.flip(images, axis + 1), images))
    assert 16 < coins.sum() < 48


def _np_brightness(img, f, top):
    return np.clip(img * f, 0, top)


def _np_contrast(img, f, top):
    return np.clip(f * img + (1 - f) * (img @ GRAY).mean(), 0, top)


def _np_saturation(img, f, top):
    return np.clip(f * img + (1 - f) * (img @ GRAY)[..., None], 0, top)


def test_color_jitter_is_brightness_then_contrast_then_saturation():
    images = _images().astype(np.float32) / 255
    op = I.ColorJitter(I.ColorJitterConfig(field="image", brightness=0.4, contrast=0.3, saturation=0.5), rngs=nnx.Rngs(2))
    got = _apply(op, images)
    factors = _per_record(lambda k: I.sample_factors(k, (0.4, 0.3, 0.5)), _keys(op, 4))
    for image, (fb, fc, fs), out in zip(images, factors, got):
        want = _np_saturation(_np_contrast(_np_brightness(image, fb, 1), fc, 1), fs, 1)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_brightness_and_contrast_operators_and_their_factor_ranges():
    images = _images().astype(np.float32)
    bright = I.RandomBrightness(I.RandomBrightnessConfig(field="image", strength=0.5, max_value=255.0), rngs=nnx.Rngs(0))
    contrast = I.RandomContrast(I.RandomContrastConfig(field="image", strength=0.5, max_value=255.0), rngs=nnx.Rngs(0))
    for op, np_fn in ((bright, _np_brightness), (contrast, _np_contrast)):
        got = _apply(op, images)
        factors = _per_record(lambda k: I.sample_factors(k, (0.5,))[0], _keys(op, 4))
        for image, factor, out in zip(images, factors, got):
            np.testing.assert_allclose(out, np_fn(image, factor, 255), rtol=1e-5, atol=1e-3)
    factors = _per_record(lambda k: I.sample_factors(k, (0.5,))[0], jax.random.split(jax.random.key(0), 1000))
    assert factors.min() >= 0.5 and factors.max() <= 1.5 and abs(factors.mean() - 1) < 0.03


def test_gaussian_noise_adds_the_records_own_normal_draws():
    images = _images().astype(np.float32)
    op = I.GaussianNoise(I.GaussianNoiseConfig(field="image", std=3.0, clip=(0.0, 255.0)), rngs=nnx.Rngs(5))
    got = _apply(op, images)
    noises = _per_record(lambda k: jax.random.normal(k, images.shape[1:], jnp.float32), _keys(op, 4))
    for image, noise, out in zip(images, noises, got):
        np.testing.assert_allclose(out, np.clip(image + 3.0 * noise, 0, 255), rtol=1e-6, atol=1e-4)
    assert abs((got - images).std() - 3.0) < 0.3


def _np_affine(image, matrix):
    """Output pixel p (centred) reads input matrix @ [p, 1] bilinearly; outside counts as zero."""
    h, w, _ = image.shape
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    out = np.zeros(image.shape, np.float64)
    for i in range(h):
        for j in range(w):
            y, x = matrix[:, :2] @ (np.array([i, j]) - centre) + matrix[:, 2] + centre
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                if 0 <= yy < h and 0 <= xx < w:
                    out[i, j] += (1 - abs(y - yy)) * (1 - abs(x - xx)) * image[yy, xx]
    return out


def test_random_affine_matches_a_per_pixel_numpy_warp():
    images = _images(3, 9, 11).astype(np.float32)
    op = I.RandomAffine(I.RandomAffineConfig(field="image", degrees=30.0, translate=(0.1, 0.2), scale=(0.8, 1.2)), rngs=nnx.Rngs(4))
    got = _apply(op, images)
    matrices = _per_record(lambda k: I.affine_matrix(*I.sample_affine(k, 30.0, (0.1, 0.2), (0.8, 1.2), 9, 11)), _keys(op, 3))
    for image, matrix, out in zip(images, matrices.astype(np.float64), got):
        np.testing.assert_allclose(out, _np_affine(image, matrix), rtol=1e-4, atol=1e-3)


def test_identity_affine_returns_the_image_and_a_90_degree_turn_rotates_it():
    image = _images(1, 5, 5)[0].astype(np.float32)
    warp = jax.jit(lambda angle: I.affine(image, I.affine_matrix(angle, (0.0, 0.0), 1.0)))
    np.testing.assert_allclose(np.asarray(warp(0.0)), image, atol=1e-4)
    turned = np.asarray(warp(90.0))
    assert any(np.allclose(turned, np.rot90(image, k), atol=1e-3) for k in (1, 3))


def test_cast_and_normalize():
    images = _images()
    np.testing.assert_array_equal(_apply(I.Cast(I.CastConfig(field="image", dtype="float32", scale=0.5)), images), images * np.float32(0.5))
    got = _apply(I.Normalize(I.NormalizeConfig(field="image", mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4), scale=1 / 255)), images)
    np.testing.assert_allclose(got, ref.normalize(images, (0.5, 0.4, 0.3), (0.2, 0.3, 0.4)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: I.RandomFlipConfig(field="image", p=1.5), "p must be a number in"),
        (lambda: I.RandomFlipConfig(field="image", stochastic=False), "stochastic must be True"),
        (lambda: I.ResizeConfig(field="image", size=(0, 4)), "size must be a"),
        (lambda: I.RandomResizedCropConfig(field="image", size=(4, 4), scale=(1.0, 0.5)), "scale must be a"),
        (lambda: I.NormalizeConfig(field="image", mean=(0.0,), std=(0.0,)), "std must be positive"),
        (lambda: I.CastConfig(field="image", dtype="float64"), "dtype must be one of"),
        (lambda: I.RandomAffineConfig(field="image", translate=(2, 0)), "translate"),
    ],
)
def test_bad_image_configs_name_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make, missing", [
    (lambda: I.RandomFlipConfig(), "'field'"),
    (lambda: I.NormalizeConfig(field="image"), "'mean' and 'std'"),
    (lambda: I.ResizeConfig(field="image"), "'size'"),
    (lambda: I.RandomCropConfig(field="image", padding=1), "'size'"),
])
def test_what_depends_on_the_data_has_no_default(make, missing):
    with pytest.raises(TypeError, match=f"missing .*required keyword-only argument.*{missing}"):
        make()
    with pytest.raises(TypeError, match="positional"):
        I.ResizeConfig("image", (4, 4))  # keyword-only


def test_a_stochastic_operator_needs_rngs_and_a_missing_field_is_named():
    with pytest.raises(ValueError, match="needs rngs"):
        I.RandomFlip(I.RandomFlipConfig(field="image"))
    op = I.Normalize(I.NormalizeConfig(field="pixels", mean=(0.0,), std=(1.0,)))
    with pytest.raises(KeyError, match=r"no field 'pixels'; the batch has \['image'\]"):
        _apply(op, _images())
