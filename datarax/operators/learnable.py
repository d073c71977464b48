"""Operators with ``nnx.Param``s, trained by a gradient through the pipeline's stages.

The pipeline reads its stages' variables at every batch, so an optimizer step on these
parameters shows in the next batch. To differentiate, run the stages yourself on the raw
inputs: ``for batch, ids, epoch in pipeline.inputs(): nnx.grad(loss)(pipeline.stages, …)``
with ``loss`` calling :func:`datarax.dag.run_stages`.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import nnx

from datarax.core.config import check_int
from datarax.operators.element import FieldConfig, FieldOperator


@dataclasses.dataclass(frozen=True, kw_only=True)
class LearnableConfig(FieldConfig):
    """A learnable transform of the last (channel) axis of ``field``.

    Attributes:
      channels: size of that axis.
    """

    channels: int

    def __post_init__(self):
        super().__post_init__()
        if self.stochastic:
            raise ValueError(f"{type(self).__name__}: learnable operators are deterministic, stochastic must be False")
        check_int("channels", self.channels, minimum=1)


class _ChannelOperator(FieldOperator):
    """A learnable map of the channel axis, applied to the whole batch at once."""

    def apply_batch(self, batch, record_ids, epoch):
        field = self.config.field
        if field not in batch:
            raise KeyError(f"{type(self).__name__}: no field {field!r}; the batch has {sorted(batch)}")
        value = batch[field]
        if value.shape[-1] != self.config.channels:
            raise ValueError(f"{type(self).__name__}: {field!r} has {value.shape[-1]} channels, "
                             f"configured for channels={self.config.channels}")
        return {**batch, field: self.transform(value.astype(jnp.float32), None)}


class LearnableColorTransform(_ChannelOperator):
    """``pixel @ matrix + bias`` per pixel; starts at the identity (matrix = I, bias = 0)."""

    def __init__(self, config: LearnableConfig):
        super().__init__(config)
        self.matrix = nnx.Param(jnp.eye(config.channels, dtype=jnp.float32))
        self.bias = nnx.Param(jnp.zeros((config.channels,), jnp.float32))

    def transform(self, value, key):
        return jnp.einsum("...c,cd->...d", value, self.matrix[...]) + self.bias[...]


class LearnableNormalize(_ChannelOperator):
    """``(value - mean) * exp(log_scale)`` per channel; starts at the identity."""

    def __init__(self, config: LearnableConfig):
        super().__init__(config)
        self.mean = nnx.Param(jnp.zeros((config.channels,), jnp.float32))
        self.log_scale = nnx.Param(jnp.zeros((config.channels,), jnp.float32))

    def transform(self, value, key):
        return (value - self.mean[...]) * jnp.exp(self.log_scale[...])


# ``<Operator>Config`` names, as for every other operator (the ``datarax`` CLI looks them up).
LearnableColorTransformConfig = LearnableNormalizeConfig = LearnableConfig
