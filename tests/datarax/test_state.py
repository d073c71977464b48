"""get_state / set_state: tiny, checked, and resuming bit for bit."""

import pickle

import jax
import numpy as np
import pytest
from flax import nnx

from datarax import Pipeline
from datarax.operators import ElementOperator, ElementOperatorConfig
from datarax.operators import image as I
from datarax.sources import MemorySource, NpySource, NpySourceConfig

N = 60


def _build(seed=1, op_seed=7, n=N, batch_size=8, **options):
    images = np.random.default_rng(0).integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)
    source = MemorySource(data={"image": images, "id": np.arange(n, dtype=np.int32)})
    stages = [
        I.RandomCrop(I.RandomCropConfig(field="image", size=(4, 4), padding=1), rngs=nnx.Rngs(op_seed)),
        I.RandomFlip(I.RandomFlipConfig(field="image"), rngs=nnx.Rngs(op_seed + 1)),
    ]
    return Pipeline(source, stages, batch_size=batch_size, shuffle=True, seed=seed, **options)


def _take(iterator, k):
    return [jax.tree.map(np.asarray, next(iterator)) for _ in range(k)]


@pytest.mark.parametrize("stop_after", [3, 7, 9])  # mid-epoch, last batch of epoch 0, in epoch 1
@pytest.mark.parametrize("prefetch", [0, 2])
def test_resume_gives_the_uninterrupted_batches_bit_for_bit(stop_after, prefetch):
    reference = _take(iter(_build(prefetch=prefetch)), stop_after + 6)
    first = _build(prefetch=prefetch)
    iterator = iter(first)
    _take(iterator, stop_after)  # the thread has prefetched further; the state must not count that
    state = first.get_state()
    iterator.close()
    # A fresh pipeline whose operators were seeded differently: the state carries their keys.
    resumed = _build(op_seed=99, prefetch=prefetch)
    resumed.set_state(state)
    for want, got in zip(reference[stop_after:], _take(iter(resumed), 6)):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


def test_state_is_a_few_integers_and_the_operator_keys():
    state = _build().get_state()
    assert state["epoch"] == 0 and state["batch_index"] == 0
    assert state["sampler"] == dict(num_records=N, batch_size=8, shuffle=True, seed=1, shard_index=0,
                                    shard_count=1, drop_remainder=True)
    assert sorted(state["operators"]) == ["0/base_key", "1/base_key"]


def test_state_stays_under_4_kib_for_a_100_mb_memory_mapped_dataset(tmp_path):
    images = np.lib.format.open_memmap(tmp_path / "image.npy", mode="w+", dtype=np.uint8, shape=(25_600, 64, 64, 1))
    assert images.nbytes >= 100 * 2**20
    del images
    np.save(tmp_path / "label.npy", np.arange(25_600, dtype=np.int32))
    source = NpySource(NpySourceConfig(path=tmp_path))
    flip = I.RandomFlip(I.RandomFlipConfig(field="image"), rngs=nnx.Rngs(0))
    pipeline = Pipeline(source, [flip], batch_size=32, shuffle=True)
    iterator = iter(pipeline)
    _take(iterator, 2)
    iterator.close()
    state = pipeline.get_state()
    assert state["batch_index"] == 2
    assert len(pickle.dumps(state)) < 4096


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(n=61), "num_records: saved 60 != this pipeline's 61"),
        (dict(seed=2), "seed: saved 1 != this pipeline's 2"),
        (dict(batch_size=6), "batch_size: saved 8 != this pipeline's 6"),
        (dict(shard_index=1, shard_count=2, batch_size=4), "shard_count: saved 1 != this pipeline's 2"),
    ],
)
def test_a_state_from_a_different_pipeline_is_rejected_naming_the_difference(other, message):
    state = _build().get_state()
    with pytest.raises(ValueError, match="different pipeline: .*" + message.replace("'", ".")):
        _build(**other).set_state(state)


def test_a_state_with_other_operators_or_a_bad_position_is_rejected():
    state = _build().get_state()
    plain = Pipeline(MemorySource(data={"image": np.zeros((N, 6, 6, 3), np.uint8), "id": np.arange(N)}),
                     [ElementOperator(ElementOperatorConfig(), fn=lambda e, k: e)], batch_size=8, shuffle=True, seed=1)
    with pytest.raises(ValueError, match="operator variables: saved"):
        plain.set_state(state)
    with pytest.raises(ValueError, match="batch_index=7 is outside"):
        _build().set_state({**state, "batch_index": 7})
    with pytest.raises(ValueError, match="set_state needs a dict from Pipeline.get_state"):
        _build().set_state({"epoch": 0, "batch_index": 0})
