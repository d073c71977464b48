"""Image operators: each a frozen config plus a per-image transform, vmapped over the batch.

Images are HWC. Stochastic operators draw their parameters from the record's own key, so a
record's augmentation depends on ``(seed, stream, epoch, record id)`` only.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from datarax.core.config import check_choice, check_int, check_number, check_range, check_size
from datarax.operators.element import FieldConfig, FieldOperator, require_stochastic
from datarax.operators.image import functional as F


def _check_mean_std(mean, std):
    for name, value in (("mean", mean), ("std", std)):
        if not isinstance(value, (tuple, list)) or not value:
            raise ValueError(f"{name} must be a non-empty tuple of per-channel numbers, got {value!r}")
    if any(s <= 0 for s in std):
        raise ValueError(f"std must be positive, got {std!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NormalizeConfig(FieldConfig):
    """``(image * scale - mean) / std`` per channel, float32."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        _check_mean_std(self.mean, self.std)
        check_number("scale", self.scale)


class Normalize(FieldOperator):
    def transform(self, image, key):
        c = self.config
        return F.normalize(image, c.mean, c.std, c.scale)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CastConfig(FieldConfig):
    """``(value * scale).astype(dtype)``."""

    dtype: str
    scale: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        check_choice("dtype", self.dtype, ("float32", "float16", "bfloat16", "int32", "uint8", "bool"))
        check_number("scale", self.scale)


class Cast(FieldOperator):
    def transform(self, value, key):
        c = self.config
        return (value * c.scale if c.scale != 1.0 else value).astype(jnp.dtype(c.dtype))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResizeConfig(FieldConfig):
    """Bilinear resize to ``size = (height, width)`` (half-pixel centres), float32."""

    size: tuple[int, int]

    def __post_init__(self):
        super().__post_init__()
        check_size("size", self.size)


class Resize(FieldOperator):
    def transform(self, image, key):
        return F.resize(image, tuple(self.config.size))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomResizedCropConfig(FieldConfig):
    """torchvision-style RandomResizedCrop to ``size``, bilinear, float32."""

    stochastic: bool = True
    stream_name: str | None = "random_resized_crop"
    size: tuple[int, int]
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        check_size("size", self.size)
        check_range("scale", self.scale, low=0.0)
        check_range("ratio", self.ratio, low=1e-6)


class RandomResizedCrop(FieldOperator):
    def transform(self, image, key):
        c = self.config
        return F.random_resized_crop(image, key, tuple(c.size), tuple(c.scale), tuple(c.ratio))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomCropConfig(FieldConfig):
    """A uniformly placed ``size`` window of the image zero-padded by ``padding``."""

    stochastic: bool = True
    stream_name: str | None = "random_crop"
    size: tuple[int, int]
    padding: int = 0

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        check_size("size", self.size)
        check_int("padding", self.padding, minimum=0)


class RandomCrop(FieldOperator):
    def transform(self, image, key):
        c = self.config
        return F.random_crop(image, key, tuple(c.size), c.padding)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomFlipConfig(FieldConfig):
    """Mirrors with probability ``p``; ``axis`` 1 is horizontal, 0 vertical."""

    stochastic: bool = True
    stream_name: str | None = "random_flip"
    p: float = 0.5
    axis: int = 1

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        check_number("p", self.p, low=0.0, high=1.0)
        check_choice("axis", self.axis, (0, 1))


class RandomFlip(FieldOperator):
    def transform(self, image, key):
        return F.flip(image, jax.random.bernoulli(key, self.config.p), self.config.axis)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ColorJitterConfig(FieldConfig):
    """Brightness, contrast and saturation factors uniform in ``[max(0, 1-s), 1+s]`` for each
    strength ``s`` (0 disables), applied in that order and clipped to ``[0, max_value]``."""

    stochastic: bool = True
    stream_name: str | None = "color_jitter"
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    max_value: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        for name in ("brightness", "contrast", "saturation"):
            check_number(name, getattr(self, name), low=0.0)
        check_number("max_value", self.max_value, low=1e-6)


class ColorJitter(FieldOperator):
    def transform(self, image, key):
        c = self.config
        return F.color_jitter(image, key, c.brightness, c.contrast, c.saturation, c.max_value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomBrightnessConfig(FieldConfig):
    """``clip(image * f)`` with ``f`` uniform in ``[max(0, 1-strength), 1+strength]``."""

    stochastic: bool = True
    stream_name: str | None = "random_brightness"
    strength: float = 0.2
    max_value: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        check_number("strength", self.strength, low=0.0)
        check_number("max_value", self.max_value, low=1e-6)


class RandomBrightness(FieldOperator):
    def transform(self, image, key):
        c = self.config
        return F.adjust_brightness(image.astype(jnp.float32), F.sample_factors(key, (c.strength,))[0], c.max_value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomContrastConfig(RandomBrightnessConfig):
    """Blend with the mean luma by a factor uniform in ``[max(0, 1-strength), 1+strength]``."""

    stream_name: str | None = "random_contrast"


class RandomContrast(FieldOperator):
    def transform(self, image, key):
        c = self.config
        return F.adjust_contrast(image.astype(jnp.float32), F.sample_factors(key, (c.strength,))[0], c.max_value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class GaussianNoiseConfig(FieldConfig):
    """``image + std * N(0, 1)`` in float32, clipped to ``clip`` when given."""

    stochastic: bool = True
    stream_name: str | None = "gaussian_noise"
    std: float = 0.1
    clip: tuple[float, float] | None = None

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        check_number("std", self.std, low=0.0)
        if self.clip is not None:
            check_range("clip", self.clip)


class GaussianNoise(FieldOperator):
    def transform(self, image, key):
        return F.gaussian_noise(image, key, self.config.std, self.config.clip)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomAffineConfig(FieldConfig):
    """Rotation by ±``degrees``, shift by ±``translate`` × (height, width), zoom by a factor in
    ``scale``, about the centre; bilinear, zeros outside the image, float32."""

    stochastic: bool = True
    stream_name: str | None = "random_affine"
    degrees: float = 0.0
    translate: tuple[float, float] = (0.0, 0.0)
    scale: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        check_number("degrees", self.degrees, low=0.0, high=180.0)
        if not isinstance(self.translate, (tuple, list)) or len(self.translate) != 2 or not all(
            isinstance(t, (int, float)) and 0 <= t <= 1 for t in self.translate
        ):
            raise ValueError(f"translate must be a pair of fractions in [0, 1], got {self.translate!r}")
        check_range("scale", self.scale, low=1e-6)


class RandomAffine(FieldOperator):
    def transform(self, image, key):
        c = self.config
        return F.random_affine(image, key, c.degrees, tuple(c.translate), tuple(c.scale))
