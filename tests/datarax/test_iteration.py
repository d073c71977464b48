"""The iterator contract: each iter() continues from the pipeline's position and takes it over."""

import numpy as np
import pytest
from flax import nnx

from datarax import Pipeline
from datarax.dag import Rebatch
from datarax.operators.image import RandomFlip, RandomFlipConfig
from datarax.sources import MemorySource


def _pipeline(**options):
    data = {"image": np.random.default_rng(0).uniform(size=(40, 2, 2, 1)).astype(np.float32),
            "id": np.arange(40, dtype=np.int32)}
    flip = RandomFlip(RandomFlipConfig(field="image"), rngs=nnx.Rngs(0))
    return Pipeline(MemorySource(data=data), [flip], batch_size=4, shuffle=True, seed=5, **options)


def _ids(batch):
    return np.asarray(batch["id"]).tolist()


REFERENCE = [_ids(b) for _, b in zip(range(12), _pipeline())]


@pytest.mark.parametrize("options", [dict(prefetch=0), dict(prefetch=2), dict(prefetch_thread=True)])
def test_a_new_iterator_continues_from_the_position_and_takes_it_over(options):
    pipeline = _pipeline(**options)
    first = iter(pipeline)
    assert [_ids(next(first)) for _ in range(2)] == REFERENCE[:2]
    assert pipeline.get_state()["batch_index"] == 2
    second = iter(pipeline)  # continues at batch 2, whatever the first one prefetched
    assert _ids(next(second)) == REFERENCE[2]
    assert pipeline.get_state()["batch_index"] == 3
    # The older iterator keeps its own stream, but no longer moves the pipeline's position.
    assert [_ids(next(first)) for _ in range(4)] == REFERENCE[2:6]
    assert pipeline.get_state()["batch_index"] == 3
    assert _ids(next(second)) == REFERENCE[3]
    assert pipeline.get_state()["batch_index"] == 4
    first.close(), second.close()


def test_set_state_scan_and_inputs_take_the_position_over_too():
    pipeline = _pipeline(prefetch=0)
    live = iter(pipeline)
    next(live)
    start = _pipeline().get_state()
    pipeline.set_state({**start, "batch_index": 7})
    assert _ids(next(live)) == REFERENCE[1]  # its own stream goes on
    assert pipeline.get_state()["batch_index"] == 7
    carry, _ = pipeline.scan(lambda c, batch: (c + 1, batch["id"]), 0, 2)
    assert int(carry) == 2 and pipeline.get_state()["batch_index"] == 9
    inputs = pipeline.inputs()
    batch, ids, epoch = next(inputs)
    assert np.asarray(ids).tolist() == REFERENCE[9] and int(epoch) == 0
    state = pipeline.get_state()  # batch 9 was epoch 0's last
    assert (state["epoch"], state["batch_index"]) == (1, 0) and _ids(next(iter(pipeline))) == REFERENCE[10]


def test_iterators_of_a_rebatched_pipeline_share_the_record_position():
    pipeline = _pipeline(prefetch=0) >> Rebatch(6)
    flat = sum(REFERENCE, [])
    first = iter(pipeline)
    assert _ids(next(first)) == flat[:6]
    state = pipeline.get_state()
    assert (state["batch_index"], state["record_offset"]) == (1, 2)
    second = iter(pipeline)
    assert _ids(next(second)) + _ids(next(second)) == flat[6:18]
    assert _ids(next(first)) == flat[6:12]  # the older one replays its own stream
    assert (pipeline.get_state()["batch_index"], pipeline.get_state()["record_offset"]) == (4, 2)


def test_nnx_state_holds_the_stages_variables_only():
    pipeline = _pipeline()
    (path, _), = nnx.to_flat_state(nnx.state(pipeline))
    assert path == ("stages", 0, "base_key")  # the flip's record key: no position, no data
