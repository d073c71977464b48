"""Sampler: shuffled epochs are permutations, reproducible, sharded disjointly, padded honestly."""

import numpy as np
import pytest

from datarax.samplers import FeistelPermutation, IndexSampler, SamplerConfig


def _epoch(sampler, epoch):
    ids, valid = zip(*(sampler.batch(epoch, i) for i in range(sampler.batches_per_epoch)))
    ids = np.concatenate(ids)
    return ids if valid[0] is None else ids[np.concatenate(valid)]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 4097])
def test_feistel_is_a_permutation_for_any_size(n):
    values = FeistelPermutation(n, key=12345)(np.arange(n))
    assert sorted(values.tolist()) == list(range(n))


def test_feistel_order_looks_random_and_depends_on_the_key():
    n = 50_000
    a = FeistelPermutation(n, key=1)(np.arange(n))
    b = FeistelPermutation(n, key=2)(np.arange(n))
    assert abs(np.corrcoef(np.arange(n), a)[0, 1]) < 0.02
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02
    # Neighbouring positions land far apart: mean gap about n/3, as for a uniform shuffle.
    assert 0.3 < np.abs(np.diff(a)).mean() / n < 0.37
    np.testing.assert_array_equal(a[1234:1300], FeistelPermutation(n, key=1)(np.arange(1234, 1300)))


def test_feistel_scalar_tail_is_the_same_bijection_as_the_vector_pass():
    perm = FeistelPermutation(100_000, key=7)
    x = np.random.default_rng(0).integers(0, 1 << 34, 500, dtype=np.uint64)
    assert perm._encrypt(x.copy()).tolist() == [perm._encrypt_int(int(v)) for v in x]
    # Any window of positions maps like the whole epoch, whichever path finished its walkers.
    whole = perm(np.arange(100_000))
    np.testing.assert_array_equal(whole[[5, 77_000, 99_999]], perm(np.array([5, 77_000, 99_999])))


def test_a_run_of_batches_is_the_batches_one_by_one_across_id_windows():
    # 4096-record batches: four per window of precomputed ids, so [3, 10) spans three windows.
    sampler = IndexSampler(SamplerConfig(num_records=40_000, batch_size=4096, shuffle=True, seed=3,
                                         drop_remainder=False))
    ids, valid = sampler.batches(1, 3, 7)
    one_by_one = [sampler.batch(1, i) for i in range(3, 10)]
    np.testing.assert_array_equal(ids, np.concatenate([b[0] for b in one_by_one]))
    np.testing.assert_array_equal(valid, np.concatenate([b[1] for b in one_by_one]))
    assert not valid[-1]  # the padded last batch
    with pytest.raises(IndexError, match=r"\[8, 11\) are outside \[0, 10\)"):
        sampler.batches(1, 8, 3)


def test_shuffled_epoch_is_a_permutation_new_each_epoch_and_reproducible():
    config = SamplerConfig(num_records=1000, batch_size=10, shuffle=True, seed=7)
    sampler = IndexSampler(config)
    first, second = _epoch(sampler, 0), _epoch(sampler, 1)
    assert sorted(first) == sorted(second) == list(range(1000))
    assert (first != second).mean() > 0.9
    np.testing.assert_array_equal(first, _epoch(IndexSampler(config), 0))
    other_seed = _epoch(IndexSampler(SamplerConfig(num_records=1000, batch_size=10, shuffle=True, seed=8)), 0)
    assert (first != other_seed).mean() > 0.9


def test_sequential_epoch_is_the_identity():
    sampler = IndexSampler(SamplerConfig(num_records=20, batch_size=5))
    np.testing.assert_array_equal(_epoch(sampler, 3), np.arange(20))


@pytest.mark.parametrize("shard_count", [2, 3, 4])
@pytest.mark.parametrize("drop_remainder", [True, False])
def test_shards_are_disjoint_and_cover_the_epoch(shard_count, drop_remainder):
    n, batch = 96, 4 if drop_remainder else 5
    shards = [
        _epoch(IndexSampler(SamplerConfig(
            num_records=n, batch_size=batch, shuffle=True, seed=3, shard_index=k,
            shard_count=shard_count, drop_remainder=drop_remainder)), epoch=2)
        for k in range(shard_count)
    ]
    together = np.concatenate(shards)
    assert len(set(together.tolist())) == len(together)  # disjoint
    assert sorted(together.tolist()) == list(range(n))  # covering
    counts = {len(IndexSampler(SamplerConfig(num_records=n, batch_size=batch, shard_index=k,
                                             shard_count=shard_count, drop_remainder=drop_remainder)
                               ).global_positions(0)) for k in range(shard_count)}
    assert counts == {batch}


def test_step_of_k_shards_is_the_step_of_one_pipeline_with_k_times_the_batch():
    whole = IndexSampler(SamplerConfig(num_records=64, batch_size=8, shuffle=True, seed=1))
    halves = [IndexSampler(SamplerConfig(num_records=64, batch_size=4, shuffle=True, seed=1,
                                         shard_index=k, shard_count=2)) for k in range(2)]
    for step in range(whole.batches_per_epoch):
        together = np.concatenate([h.batch(0, step)[0] for h in halves])
        assert sorted(together) == sorted(whole.batch(0, step)[0])


def test_padded_last_batch_is_masked():
    sampler = IndexSampler(SamplerConfig(num_records=10, batch_size=4, shuffle=True, drop_remainder=False))
    assert sampler.batches_per_epoch == 3
    ids, valid = sampler.batch(0, 2)
    assert ids.shape == (4,) and valid.tolist() == [True, True, False, False]
    assert ((ids >= 0) & (ids < 10)).all()
    assert sorted(_epoch(sampler, 0).tolist()) == list(range(10))


def test_drop_remainder_drops_the_partial_batch():
    sampler = IndexSampler(SamplerConfig(num_records=10, batch_size=4))
    assert sampler.batches_per_epoch == 2
    assert sampler.batch(0, 1)[1] is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_records=0, batch_size=1), "num_records"),
        (dict(num_records=10, batch_size=0), "batch_size"),
        (dict(num_records=10, batch_size=11), "batch_size=11 exceeds"),
        (dict(num_records=10, batch_size=1, shard_index=2, shard_count=2), "shard_index"),
        (dict(num_records=10, batch_size=1, shard_count=11), "shard_count"),
        (dict(num_records=10, batch_size=1, seed=-1), "seed"),
        (dict(num_records=10, batch_size=1, num_epochs=0), "num_epochs"),
        (dict(num_records=10, batch_size=1, shuffle=1), "shuffle"),
        (dict(batch_size=1), "missing 1 required keyword-only argument: 'num_records'"),
        (dict(num_records=10), "missing 1 required keyword-only argument: 'batch_size'"),
    ],
)
def test_bad_sampler_settings_name_the_value(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SamplerConfig(**kwargs)
