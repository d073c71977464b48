"""Batches sharded over 8 forced CPU devices (1-D and 4x2 meshes); processes' disjoint shards."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    '''
    import jax, numpy as np
    from flax import nnx
    from jax.sharding import Mesh
    from datarax import Pipeline
    from datarax.dag.nodes import Merge, OperatorNode
    from datarax.operators.image import RandomFlip, RandomFlipConfig
    from datarax.sources import MemorySource, MemorySourceConfig

    assert jax.device_count() == 8, jax.devices()
    n = 96
    data = {"image": np.random.default_rng(0).uniform(size=(n, 4, 4, 3)).astype(np.float32),
            "id": np.arange(n, dtype=np.int32)}
    source = MemorySource(MemorySourceConfig(), data=data)
    flip = lambda: RandomFlip(RandomFlipConfig(field="image", stochastic=True, stream_name="aug"), rngs=nnx.Rngs(2))
    stages = [OperatorNode(flip()) | OperatorNode(flip()), Merge("mean")]
    reference = next(iter(Pipeline(source, stages, batch_size=16, prefetch=0)))["image"]

    devices = np.array(jax.devices())
    cases = {"8": (Mesh(devices, ("data",)), "data", 8),
             "4x2": (Mesh(devices.reshape(4, 2), ("data", "model")), "data", 4),
             "4x2-both": (Mesh(devices.reshape(4, 2), ("data", "model")), ("data", "model"), 8)}
    for name, (mesh, axes, ways) in cases.items():
        batch = next(iter(Pipeline(source, stages, batch_size=16, mesh=mesh, data_axes=axes)))
        image = batch["image"]
        assert image.shape == (16, 4, 4, 3), image.shape
        assert len(image.sharding.device_set) == 8, name
        rows = {s.data.shape[0] for s in image.addressable_shards}
        assert rows == {16 // ways}, (name, rows)
        np.testing.assert_array_equal(np.asarray(image), np.asarray(reference))  # same records, same keys
        print(name, "ok")

    # Two simulated processes: shards 0 and 1 of 2, as process_shard() gives on a 2-process job.
    seen = []
    for index in range(2):
        shard = Pipeline(source, [], batch_size=8, shuffle=True, seed=5, shard_index=index, shard_count=2,
                         num_epochs=1, mesh=Mesh(devices, ("data",)))
        seen.append(np.concatenate([np.asarray(b["id"]) for b in shard]))
    assert not set(seen[0]) & set(seen[1]) and sorted(np.concatenate(seen)) == list(range(n))
    print("processes ok")
    '''
)


def test_sharded_batches_on_8_forced_cpu_devices_and_disjoint_process_shards():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["8", "ok", "4x2", "ok", "4x2-both", "ok", "processes", "ok"]


def test_bad_mesh_axes_name_the_valid_ones():
    import jax
    import numpy as np
    import pytest
    from jax.sharding import Mesh

    from datarax.distributed import batch_sharding

    mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    with pytest.raises(ValueError, match=r"\['batch'\] not among the mesh's axes \('data',\)"):
        batch_sharding(mesh, "batch")
