"""Pipeline.scan: many batches and a training step fused in one XLA program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax import from_source
from datarax.operators.image import RandomFlip, RandomFlipConfig
from datarax.sources import MemorySource, MemorySourceConfig


def _pipeline():
    data = {"image": np.random.default_rng(0).uniform(size=(64, 4, 4, 3)).astype(np.float32)}
    flip = RandomFlip(RandomFlipConfig(field="image", stochastic=True, stream_name="aug"), rngs=nnx.Rngs(1))
    return from_source(MemorySource(MemorySourceConfig(), data=data), batch_size=8, shuffle=True, prefetch=0) >> flip


def train_step(params, batch):
    x = batch["image"].reshape(8, -1)

    def loss(params):
        return jnp.mean((x @ params["w"] - x[:, :1]) ** 2)

    value, grads = jax.value_and_grad(loss)(params)
    return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), value


def test_scan_equals_the_python_loop_and_advances_the_position():
    params = {"w": jnp.zeros((48, 1))}
    fused = _pipeline()
    got, losses = fused.scan(train_step, params, 5)
    looped, step = _pipeline(), jax.jit(train_step)
    want, want_losses = params, []
    for _, batch in zip(range(5), looped):
        want, value = step(want, batch)
        want_losses.append(value)
    np.testing.assert_allclose(got["w"], want["w"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    assert fused.get_state()["batch_index"] == looped.get_state()["batch_index"] == 5
    np.testing.assert_array_equal(next(iter(fused))["image"], next(iter(looped))["image"])
    with pytest.raises(ValueError, match="num_batches must be an int >= 1"):
        fused.scan(train_step, params, 0)
