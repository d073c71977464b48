"""DAG nodes (Parallel, Merge, Branch, SplitField) against NumPy on a fixed batch."""

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax import from_source
from datarax.dag.nodes import Branch, Merge, OperatorNode, Parallel, SplitField
from datarax.operators import ElementOperator, ElementOperatorConfig
from datarax.sources import MemorySource, MemorySourceConfig

ADVANCED = textwrap.dedent(
    '''
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx
    from datarax import from_source
    from datarax.operators import ElementOperator, ElementOperatorConfig
    from datarax.sources import MemorySource, MemorySourceConfig
    from datarax.typing import Element

    def normalize(element: Element, key=None) -> Element:
        return element.update_data({"image": element.data["image"] / 255.0})

    def augment(element: Element, key) -> Element:
        flip = jax.random.bernoulli(key, 0.5)
        img = element.data["image"]
        return element.update_data({"image": jnp.where(flip, jnp.flip(img, axis=1), img)})

    data = {"image": np.random.randint(0, 255, (100, 8, 8, 1)).astype(np.float32),
            "label": np.random.randint(0, 10, (100,)).astype(np.int32)}
    source = MemorySource(MemorySourceConfig(), data=data)
    normalizer = ElementOperator(ElementOperatorConfig(stochastic=False), fn=normalize)
    augmenter = ElementOperator(ElementOperatorConfig(stochastic=True, stream_name="augmentations"),
                                fn=augment, rngs=nnx.Rngs(42))
    '''
)

# The seed README's "Advanced: Branching and Parallel DAGs", verbatim but for the ``rngs=`` its
# deterministic operators were given: datarax refuses arguments it would ignore (see below).
SEED_ADVANCED = textwrap.dedent(
    '''
    from datarax.dag.nodes import OperatorNode, Merge, Branch

    # Define additional operators
    def invert(element: Element, key=None) -> Element:
        return element.update_data({"image": 1.0 - element.data["image"]})

    inverter = ElementOperator(
        ElementOperatorConfig(stochastic=False), fn=invert,
    )

    def is_high_contrast(element):
        return jnp.var(element.data["image"]) > 0.1

    complex_pipeline = (
        from_source(source, batch_size=32)
        >> (OperatorNode(normalizer) | OperatorNode(inverter))
        >> Merge("mean")
        >> Branch(
               condition=is_high_contrast,
               true_path=OperatorNode(augmenter),
               false_path=OperatorNode(normalizer),
           )
    )
    '''
)


def _op(fn):
    return ElementOperator(ElementOperatorConfig(), fn=fn)


def _first_batch(stages, data):
    n = len(next(iter(data.values())))
    source = MemorySource(MemorySourceConfig(), data=data)
    pipeline = from_source(source, batch_size=n, prefetch=0)
    for stage in stages:
        pipeline = pipeline >> stage
    return jax.tree.map(np.asarray, next(iter(pipeline)))


def test_seed_advanced_example_runs():
    scope: dict = {}
    exec(ADVANCED + SEED_ADVANCED, scope)
    with pytest.raises(ValueError, match="deterministic .* drop rngs="):  # the seed's ignored rngs
        scope["ElementOperator"](ElementOperatorConfig(stochastic=False), fn=scope["invert"], rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="rngs"):
        MemorySource(MemorySourceConfig(), data=scope["data"], rngs=nnx.Rngs(0))
    batches = [b for _, b in zip(range(3), scope["complex_pipeline"])]
    assert [b["image"].shape for b in batches] == [(32, 8, 8, 1)] * 3
    # mean(x/255, 1-x) is far from [0,1] for raw pixels, so every record has high variance
    # and took the (flip) augmenter path: values are a permutation of the merged image.
    raw = scope["data"]["image"][:32]
    merged = (raw / 255.0 + (1.0 - raw)) / 2
    np.testing.assert_allclose(np.sort(batches[0]["image"].reshape(32, -1)), np.sort(merged.reshape(32, -1)), rtol=1e-6)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (6, 4, 4, 3)).astype(np.float32)
    image[:3] *= 0.1  # low variance half
    return {"image": image, "label": np.arange(6, dtype=np.int32)}


def test_parallel_merge_modes_match_numpy(data):
    double = _op(lambda e, key=None: e.update_data({"image": e.data["image"] * 2}))
    shift = _op(lambda e, key=None: e.update_data({"image": e.data["image"] + 1}))
    x = data["image"]
    expected = {"mean": (2 * x + x + 1) / 2, "sum": 3 * x + 1,
                "concat": np.concatenate([2 * x, x + 1], -1), "stack": np.stack([2 * x, x + 1], 1)}
    for mode, want in expected.items():
        out = _first_batch([OperatorNode(double) | OperatorNode(shift), Merge(mode)], data)
        np.testing.assert_allclose(out["image"], want, rtol=1e-6, err_msg=mode)
        np.testing.assert_array_equal(out["label"], data["label"])  # non-float: first branch


def test_three_way_parallel_and_branch_per_element_match_numpy(data):
    ops = [_op(lambda e, key=None, c=c: e.update_data({"image": e.data["image"] * c})) for c in (1.0, 2.0, 3.0)]
    branch = Branch(condition=lambda e: jnp.var(e.data["image"]) > 0.5,
                    true_path=_op(lambda e, key=None: e.update_data({"image": 1 - e.data["image"]})),
                    false_path=[ops[1], ops[2]])
    pipe = OperatorNode(ops[0]) | OperatorNode(ops[1]) | ops[2]
    assert isinstance(pipe, Parallel) and len(pipe.paths) == 3
    out = _first_batch([pipe, Merge("sum"), branch], data)
    merged = data["image"] * 6
    high = merged.reshape(6, -1).var(axis=1) > 0.5
    assert 0 < high.sum() < 6  # both paths taken within one batch
    want = np.where(high[:, None, None, None], 1 - merged, merged * 6)
    np.testing.assert_allclose(out["image"], want, rtol=1e-5)


def test_split_field_and_clear_errors(data):
    out = _first_batch([SplitField("image", ("rg", "b"), sizes=(2, 1))], data)
    np.testing.assert_array_equal(out["rg"], data["image"][..., :2])
    np.testing.assert_array_equal(out["b"], data["image"][..., 2:])
    assert "image" not in out
    with pytest.raises(ValueError, match="mode must be one of"):
        Merge("max")
    with pytest.raises(TypeError, match="Merge first"):
        _first_batch([OperatorNode(_op(lambda e, key=None: e)) | _op(lambda e, key=None: e),
                      OperatorNode(_op(lambda e, key=None: e))], data)
    with pytest.raises(TypeError, match="end a Parallel node with a Merge"):
        _first_batch([OperatorNode(_op(lambda e, key=None: e)) | _op(lambda e, key=None: e)], data)
