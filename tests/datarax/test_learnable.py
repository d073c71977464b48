"""Learnable operators trained by nnx.grad + optax through Parallel, Merge and Branch."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from datarax import from_source
from datarax.dag import run_stages
from datarax.dag.nodes import Branch, Merge, OperatorNode, Parallel
from datarax.operators.learnable import LearnableColorTransform, LearnableConfig, LearnableNormalize
from datarax.sources import MemorySource, MemorySourceConfig


def _pipeline():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (64, 4, 4, 3)).astype(np.float32)
    image[::2] *= 0.2
    source = MemorySource(MemorySourceConfig(), data={"image": image})
    config = LearnableConfig(field="image", channels=3)
    colour, norm, colour2 = LearnableColorTransform(config), LearnableNormalize(config), LearnableColorTransform(config)
    pipeline = (
        from_source(source, batch_size=16, shuffle=True, prefetch=0)
        >> (OperatorNode(colour) | OperatorNode(norm))
        >> Merge("mean")
        >> Branch(lambda e: jnp.mean(e.data["image"]) > 0.3, true_path=colour2, false_path=norm)
    )
    return pipeline, (colour, norm, colour2)


def test_training_through_branch_and_merge_changes_every_parameter_and_lowers_the_loss():
    pipeline, (colour, norm, colour2) = _pipeline()
    target = jnp.asarray([[0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.3, 0.2, 0.5]])  # a fixed colour map

    def loss_fn(stages, batch, ids, epoch):
        out = run_stages(stages, batch, ids, epoch)["image"]
        return jnp.mean((out - (batch["image"] @ target + 0.1)) ** 2)

    before = jax.tree.map(np.array, nnx.state(pipeline.stages, nnx.Param))
    optimizer = nnx.Optimizer(pipeline.stages, optax.adam(0.05), wrt=nnx.Param)

    @nnx.jit
    def train_step(stages, optimizer, batch, ids, epoch):
        loss, grads = nnx.value_and_grad(loss_fn)(stages, batch, ids, epoch)
        optimizer.update(stages, grads)
        return loss

    losses = [float(train_step(pipeline.stages, optimizer, *inputs)) for _, inputs in zip(range(40), pipeline.inputs())]
    assert losses[-1] < 0.2 * losses[0], losses
    after = nnx.state(pipeline.stages, nnx.Param)
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), before, jax.tree.map(np.asarray, after))
    assert all(jax.tree.leaves(changed)), changed  # both Parallel paths and both Branch paths learned
    assert pipeline.get_state()["batch_index"] == 40 % pipeline.batches_per_epoch

    # The pipeline's own compiled step reads the trained parameters.
    inputs = next(pipeline.inputs())
    pipeline.set_state({**pipeline.get_state(), "batch_index": pipeline.get_state()["batch_index"] - 1})
    np.testing.assert_allclose(next(iter(pipeline))["image"], run_stages(pipeline.stages, *inputs)["image"], rtol=1e-5, atol=1e-6)


def test_learnable_config_errors():
    with pytest.raises(ValueError, match="stochastic must be False"):
        LearnableConfig(field="image", channels=3, stochastic=True, stream_name="x")
    source = MemorySource(MemorySourceConfig(), data={"image": np.zeros((4, 2, 2, 4), np.float32)})
    with pytest.raises(ValueError, match="has 4 channels"):
        next(iter(from_source(source, batch_size=4, prefetch=0) >> LearnableColorTransform(LearnableConfig(field="image", channels=3))))


def test_weighted_merge_logits_are_learnable():
    from datarax.operators import ElementOperator, ElementOperatorConfig

    double = ElementOperator(ElementOperatorConfig(), fn=lambda e, key=None: e.update_data({"image": e.data["image"] * 2}))
    source = MemorySource(MemorySourceConfig(), data={"image": np.ones((8, 2, 2, 3), np.float32)})
    colour = LearnableColorTransform(LearnableConfig(field="image", channels=3))
    pipeline = from_source(source, batch_size=8, prefetch=0) >> Parallel([colour, double]) >> Merge("weighted", weights=(1, 1))
    batch, ids, epoch = next(pipeline.inputs())
    # The target 2x is reached by moving all weight to `double`: the logits' gradient says so.
    grads = nnx.grad(lambda s: jnp.mean((run_stages(s, batch, ids, epoch)["image"] - 2.0) ** 2))(pipeline.stages)
    g = np.asarray(grads[1].logits[...])
    assert g[0] > 0 > g[1]
