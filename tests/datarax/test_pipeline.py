import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax import Pipeline, from_source
from datarax.dag.nodes import OperatorNode
from datarax.operators import ElementOperator, ElementOperatorConfig
from datarax.sources import MemorySource


def _source(n=64):
    return MemorySource(data={"x": np.arange(n, dtype=np.float32), "id": np.arange(n, dtype=np.int32)})


def _noise_op(seed=0):
    def add_noise(element, key):
        return element.update_data({"x": element.data["x"] + jax.random.uniform(key)})

    return ElementOperator(
        ElementOperatorConfig(stochastic=True, stream_name="noise"), fn=add_noise, rngs=nnx.Rngs(seed)
    )


def _noise_by_record(pipeline, batches):
    noise = {}
    for _, batch in zip(range(batches), pipeline):
        for rid, x in zip(np.asarray(batch["id"]), np.asarray(batch["x"])):
            noise[int(rid)] = float(x) - rid
    return noise


def test_rshift_and_pipeline_constructor_build_the_same_stream():
    op = _noise_op()
    a = from_source(_source(), batch_size=8, shuffle=True, seed=3) >> OperatorNode(op)
    b = Pipeline(_source(), [op], batch_size=8, shuffle=True, seed=3)
    for batch_a, batch_b, _ in zip(a, b, range(5)):
        np.testing.assert_array_equal(batch_a["x"], batch_b["x"])


def test_record_augmentation_does_not_depend_on_batch_size():
    op = _noise_op(seed=7)
    small = _noise_by_record(Pipeline(_source(), [op], batch_size=8, shuffle=True), 8)
    large = _noise_by_record(Pipeline(_source(), [op], batch_size=32, shuffle=True, seed=5), 2)
    assert set(small) == set(large) == set(range(64))
    for rid in small:
        assert small[rid] == pytest.approx(large[rid], abs=1e-6)
    assert len({round(v, 6) for v in small.values()}) > 60  # keys differ across records


def test_shuffled_epoch_is_a_permutation_and_epochs_differ():
    pipeline = Pipeline(_source(), [], batch_size=16, shuffle=True, seed=1)
    ids = [np.asarray(b["id"]) for _, b in zip(range(8), pipeline)]
    first, second = np.concatenate(ids[:4]), np.concatenate(ids[4:])
    assert sorted(first) == sorted(second) == list(range(64))
    assert not np.array_equal(first, second)


def test_state_round_trip_resumes_the_same_batches():
    op = _noise_op()
    reference = [np.asarray(b["x"]) for _, b in zip(range(6), Pipeline(_source(), [op], batch_size=16, shuffle=True))]
    first = Pipeline(_source(), [op], batch_size=16, shuffle=True)
    for _, _b in zip(range(5), first):  # zip pulls a fifth batch before stopping
        pass
    state = first.get_state()
    resumed = Pipeline(_source(), [op], batch_size=16, shuffle=True)
    resumed.set_state(state)
    rest = [np.asarray(b["x"]) for _, b in zip(range(1), resumed)]
    np.testing.assert_array_equal(rest[0], reference[5])


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, 65])
def test_bad_batch_size_is_named(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        Pipeline(_source(), [], batch_size=batch_size)


def test_unequal_field_lengths_are_rejected():
    with pytest.raises(ValueError, match="same leading length"):
        MemorySource(data={"a": np.zeros(3), "b": np.zeros(4)})


def test_stochastic_operator_needs_a_stream_name():
    with pytest.raises(ValueError, match="stream_name"):
        ElementOperatorConfig(stochastic=True)


def test_deterministic_operator_output_matches_numpy():
    op = ElementOperator(ElementOperatorConfig(), fn=lambda e, k: e.update_data({"x": e.data["x"] * 2 + 1}))
    batch = next(iter(Pipeline(_source(), [op], batch_size=8)))
    np.testing.assert_array_equal(batch["x"], np.arange(8, dtype=np.float32) * 2 + 1)
    assert isinstance(batch["x"], jax.Array) and batch["x"].dtype == jnp.float32


def test_record_augmentation_does_not_depend_on_the_shard_count():
    op = _noise_op(seed=11)
    whole = _noise_by_record(Pipeline(_source(), [op], batch_size=16, shuffle=True, seed=2), 4)
    shards = {}
    for k in range(2):
        shards.update(_noise_by_record(
            Pipeline(_source(), [op], batch_size=8, shuffle=True, seed=2, shard_index=k, shard_count=2), 4))
    assert set(shards) == set(whole) == set(range(64))
    assert all(shards[rid] == whole[rid] for rid in whole)


def test_plain_nnx_module_stage_gets_the_dict_batch():
    class Scale(nnx.Module):
        def __init__(self):
            self.factor = nnx.Param(jnp.float32(3.0))

        def __call__(self, batch):
            return {**batch, "x": batch["x"] * self.factor[...]}

    scale = Scale()
    pipeline = Pipeline(_source(), [scale], batch_size=8)
    iterator = iter(pipeline)
    np.testing.assert_array_equal(next(iterator)["x"], np.arange(8) * 3.0)
    scale.factor.set_value(jnp.float32(-1.0))  # parameters are read at every batch
    np.testing.assert_array_equal(next(iterator)["x"], np.arange(8, 16) * -1.0)
    iterator.close()


def test_record_keys_depend_on_epoch_stream_and_seed_only():
    def keys(seed, stream, epoch):
        op = ElementOperator(ElementOperatorConfig(stochastic=True, stream_name=stream), fn=lambda e, k: e,
                             rngs=nnx.Rngs(seed))
        data = jax.random.key_data(op.record_keys(jnp.arange(64, dtype=jnp.int32), jnp.int32(epoch)))
        return np.asarray(data)

    base = keys(0, "a", 0)
    assert len({tuple(k) for k in base}) == 64  # one distinct key per record
    np.testing.assert_array_equal(base, keys(0, "a", 0))
    for other in (keys(1, "a", 0), keys(0, "b", 0), keys(0, "a", 1)):
        assert (other != base).any(axis=1).all()
