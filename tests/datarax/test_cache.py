"""Cache: a deterministic sub-graph's output memoized per record id under a byte budget."""

import numpy as np
import pytest
from flax import nnx

from datarax import Pipeline, from_source
from datarax.dag.cache import Cache
from datarax.dag.nodes import Merge, OperatorNode
from datarax.operators import ElementOperator, ElementOperatorConfig
from datarax.operators.image import RandomFlip, RandomFlipConfig, Resize, ResizeConfig
from datarax.operators.learnable import LearnableConfig, LearnableNormalize
from datarax.operators.sequence import DynamicPadToBucket, DynamicPadToBucketConfig
from datarax.sources import MemorySource, MemorySourceConfig, MixedSource, MixedSourceConfig

DATA = {"image": np.random.default_rng(0).uniform(size=(24, 8, 8, 3)).astype(np.float32),
        "id": np.arange(24, dtype=np.int32)}


def _subgraph():
    square = ElementOperator(ElementOperatorConfig(), fn=lambda e, key=None: e.update_data({"image": e.data["image"] ** 2}))
    return [OperatorNode(Resize(ResizeConfig(field="image", size=(4, 4)))) | OperatorNode(Resize(ResizeConfig(field="image", size=(4, 4)))),
            Merge("mean"), square]


def _batches(cache_or_none, epochs=2):
    flip = RandomFlip(RandomFlipConfig(field="image", stochastic=True, stream_name="aug"), rngs=nnx.Rngs(3))
    stages = ([cache_or_none] if cache_or_none else _subgraph()) + [flip]
    pipeline = from_source(MemorySource(MemorySourceConfig(), data=DATA), batch_size=6, shuffle=True,
                           num_epochs=epochs, prefetch=0)
    for stage in stages:
        pipeline = pipeline >> stage
    return [np.asarray(b["image"]) for b in pipeline]


@pytest.mark.parametrize("max_bytes, cached", [(1 << 20, 24), (10 * (4 * 4 * 3 * 4 + 4), 10)])  # 10 records of image + id
def test_cached_pipeline_equals_uncached_and_hits_within_the_budget(max_bytes, cached):
    cache = Cache(_subgraph(), max_bytes=max_bytes)
    got, want = _batches(cache), _batches(None)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    stats = cache.stats()
    assert stats["records"] == cached and stats["bytes"] <= max_bytes
    assert stats["hits"] + stats["misses"] == 48
    if cached == 24:  # the second epoch is served from the cache
        assert (stats["hits"], stats["misses"]) == (24, 24)
    else:
        assert stats["misses"] > 24


def test_cache_rejects_random_or_trainable_subgraphs_and_must_come_first():
    flip = RandomFlip(RandomFlipConfig(field="image", stochastic=True, stream_name="aug"), rngs=nnx.Rngs(3))
    with pytest.raises(ValueError, match="draws random numbers"):
        Cache([flip])
    with pytest.raises(ValueError, match="has trainable parameters"):
        Cache([LearnableNormalize(LearnableConfig(field="image", channels=3))])
    source = MemorySource(MemorySourceConfig(), data=DATA)
    with pytest.raises(ValueError, match=r"Cache runs on the host before the compiled step, so it must come before "
                                         r"RandomFlip, which runs inside the compiled step"):
        from_source(source, batch_size=6) >> flip >> Cache(_subgraph())


def test_cache_refuses_input_a_record_id_alone_does_not_determine():
    bucket = DynamicPadToBucket(DynamicPadToBucketConfig(field="tokens", buckets=(4, 8)))
    tokens = MemorySource(data={"tokens": np.ones((24, 8), np.int32)})
    with pytest.raises(ValueError, match="DynamicPadToBucket gives a record other rows in another batch or epoch"):
        Pipeline(tokens, [bucket, Cache([_subgraph()[2]])], batch_size=6)
    mixed = MixedSource(MixedSourceConfig(weights=(1, 1)), sources=[MemorySource(data=DATA), MemorySource(data=DATA)])
    with pytest.raises(ValueError, match="MixedSource gives a record other rows"):
        Pipeline(mixed, [Cache(_subgraph())], batch_size=6)
