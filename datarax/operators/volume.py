"""Volume operators on 3-D arrays ``[D, H, W]`` (or ``[D, H, W, C]``) per record, e.g. CT/MRI.

``RandomCrop3D`` places a window uniformly, drawing its offsets from the record's own key;
``ZScore`` standardizes each volume by its own mean and standard deviation.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from datarax.core.config import check_number
from datarax.operators.element import FieldConfig, FieldOperator, require_stochastic


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomCrop3DConfig(FieldConfig):
    """A uniformly placed ``size = (depth, height, width)`` window of the volume."""

    stochastic: bool = True
    stream_name: str | None = "random_crop_3d"
    size: tuple[int, int, int]

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        if not isinstance(self.size, (tuple, list)) or len(self.size) != 3 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in self.size
        ):
            raise ValueError(f"size must be a (depth, height, width) triple of positive ints, got {self.size!r}")


class RandomCrop3D(FieldOperator):
    def transform(self, volume, key):
        size = tuple(self.config.size)
        if any(s > v for s, v in zip(size, volume.shape)):
            raise ValueError(f"RandomCrop3D: size {size} exceeds the volume {volume.shape[:3]}")
        limits = jnp.asarray([v - s + 1 for v, s in zip(volume.shape, size)])
        offsets = jax.random.randint(key, (3,), 0, limits)
        start = (*offsets, *([0] * (volume.ndim - 3)))
        return jax.lax.dynamic_slice(volume, start, (*size, *volume.shape[3:]))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ZScoreConfig(FieldConfig):
    """``(x - mean(x)) / sqrt(var(x) + eps)`` over the whole volume, in float32."""

    eps: float = 1e-6

    def __post_init__(self):
        super().__post_init__()
        check_number("eps", self.eps, low=0.0)


class ZScore(FieldOperator):
    def transform(self, volume, key):
        x = volume.astype(jnp.float32)
        mean = x.mean()
        return (x - mean) / jnp.sqrt(jnp.mean(jnp.square(x - mean)) + jnp.float32(self.config.eps))
