"""Pipeline + model state through Orbax's CheckpointManager, restored in a new process."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from flax import nnx

from datarax import from_source
from datarax.checkpoint import load_state, save_state
from datarax.operators.image import RandomFlip, RandomFlipConfig
from datarax.sources import MemorySource, MemorySourceConfig

SCRIPT = textwrap.dedent(
    '''
    import sys
    import jax, jax.numpy as jnp, numpy as np, optax
    import orbax.checkpoint as ocp
    from flax import nnx
    from datarax import from_source
    from datarax.checkpoint.orbax import PipelineRestore, PipelineSave
    from datarax.operators.image import RandomFlip, RandomFlipConfig
    from datarax.sources import MemorySource, MemorySourceConfig

    mode, ckpt, out = sys.argv[1:]
    data = {"image": np.random.default_rng(0).uniform(0, 1, (40, 4, 4, 3)).astype(np.float32)}
    flip = RandomFlip(RandomFlipConfig(field="image", stochastic=True, stream_name="aug"), rngs=nnx.Rngs(1))
    pipeline = from_source(MemorySource(MemorySourceConfig(), data=data), batch_size=8, shuffle=True, seed=3) >> flip
    model = nnx.Linear(48, 1, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, image):
        def loss_fn(model):
            return jnp.mean((model(image.reshape(len(image), -1)) - 1.0) ** 2)
        optimizer.update(model, nnx.grad(loss_fn)(model))

    manager = ocp.CheckpointManager(ckpt, options=ocp.CheckpointManagerOptions(max_to_keep=2))
    steps = 8
    if mode == "resume":
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, nnx.state((model, optimizer)))
        restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(
            train=ocp.args.StandardRestore(abstract), pipeline=PipelineRestore(pipeline)))
        nnx.update((model, optimizer), restored.train)
        steps = 5
    images, kernels = [], []
    for step, batch in zip(range(steps), pipeline):
        train_step(model, optimizer, batch["image"])
        images.append(np.asarray(batch["image"]))
        kernels.append(np.asarray(model.kernel[...]))
        if mode == "full" and step in (0, 1, 2):  # keeps the last 2 of 3 saves
            manager.save(step + 1, args=ocp.args.Composite(
                train=ocp.args.StandardSave(nnx.state((model, optimizer))), pipeline=PipelineSave(pipeline)))
    manager.wait_until_finished()
    np.savez(out, images=np.stack(images[-5:]), kernels=np.stack(kernels[-5:]), steps=np.asarray(manager.all_steps()))
    '''
)


def test_orbax_round_trip_in_a_new_process_continues_the_run_exactly(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    for mode in ("full", "resume"):
        subprocess.run([sys.executable, str(script), mode, str(tmp_path / "ckpt"), str(tmp_path / f"{mode}.npz")],
                       check=True, capture_output=True, text=True)
    full, resumed = np.load(tmp_path / "full.npz"), np.load(tmp_path / "resume.npz")
    assert list(full["steps"]) == [2, 3]  # max_to_keep=2
    np.testing.assert_array_equal(resumed["images"], full["images"])
    np.testing.assert_array_equal(resumed["kernels"], full["kernels"])


def _pipeline(batch_size):
    data = {"image": np.arange(20 * 12, dtype=np.float32).reshape(20, 2, 2, 3)}
    flip = RandomFlip(RandomFlipConfig(field="image", stochastic=True, stream_name="aug"), rngs=nnx.Rngs(1))
    return from_source(MemorySource(MemorySourceConfig(), data=data), batch_size=batch_size, shuffle=True, prefetch=0) >> flip


def test_plain_files_round_trip_and_another_batch_size_fails_clearly(tmp_path):
    pipeline = _pipeline(4)
    iterator = iter(pipeline)
    next(iterator), next(iterator)
    save_state(tmp_path / "s", pipeline.get_state())
    expected = np.asarray(next(iterator)["image"])
    restored = _pipeline(4)
    restored.set_state(load_state(tmp_path / "s"))
    np.testing.assert_array_equal(next(iter(restored))["image"], expected)
    with pytest.raises(ValueError, match="batch_size: saved 4 != this pipeline's 5"):
        _pipeline(5).set_state(load_state(tmp_path / "s"))
    with pytest.raises(FileNotFoundError, match="no pipeline state"):
        load_state(tmp_path / "missing")
