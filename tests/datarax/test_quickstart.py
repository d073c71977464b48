"""The seed README's quick start, run unchanged."""

import subprocess
import sys
import textwrap

QUICKSTART = textwrap.dedent(
    '''
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from datarax import from_source
    from datarax.dag.nodes import OperatorNode
    from datarax.operators import ElementOperator, ElementOperatorConfig
    from datarax.sources import MemorySource, MemorySourceConfig
    from datarax.typing import Element


    def normalize(element: Element, key: jax.Array | None = None) -> Element:
        return element.update_data({"image": element.data["image"] / 255.0})


    def augment(element: Element, key: jax.Array) -> Element:
        key1, _ = jax.random.split(key)
        flip = jax.random.bernoulli(key1, 0.5)
        new_image = jax.lax.cond(
            flip, lambda img: jnp.flip(img, axis=1), lambda img: img,
            element.data["image"],
        )
        return element.update_data({"image": new_image})


    # Create in-memory data source
    data = {
        "image": np.random.randint(0, 255, (1000, 28, 28, 1)).astype(np.float32),
        "label": np.random.randint(0, 10, (1000,)).astype(np.int32),
    }
    source = MemorySource(MemorySourceConfig(), data=data, rngs=nnx.Rngs(0))

    # Build pipeline with DAG-based API
    normalizer = ElementOperator(
        ElementOperatorConfig(stochastic=False), fn=normalize, rngs=nnx.Rngs(0),
    )
    augmenter = ElementOperator(
        ElementOperatorConfig(stochastic=True, stream_name="augmentations"),
        fn=augment, rngs=nnx.Rngs(42),
    )

    pipeline = (
        from_source(source, batch_size=32)
        >> OperatorNode(normalizer)
        >> OperatorNode(augmenter)
    )

    # Process batches
    for i, batch in enumerate(pipeline):
        if i >= 3:
            break
        print(f"Batch {i}: images {batch['image'].shape}, labels {batch['label'].shape}")
    '''
)


def test_seed_quickstart_runs_unchanged_and_prints_three_batches():
    out = subprocess.run(
        [sys.executable, "-c", QUICKSTART], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [
        f"Batch {i}: images (32, 28, 28, 1), labels (32,)" for i in range(3)
    ]
