"""Merge's rule for integer/bool fields under mean/sum, and Rebatch dropping padding rows."""

import jax.numpy as jnp
import numpy as np
import pytest

from datarax import from_source
from datarax.dag.nodes import Merge, ModuleNode, OperatorNode, Parallel
from datarax.dag.rebatch import Rebatch
from datarax.operators import MapOperator, MapOperatorConfig
from datarax.sources import MemorySource, MemorySourceConfig


def _source(n=10):
    return MemorySource(MemorySourceConfig(), data={
        "x": np.arange(n, dtype=np.float32), "label": np.arange(n, dtype=np.int32) % 3,
        "mask": np.arange(n) % 2 == 0,
    })


def _map(field, fn):
    return OperatorNode(MapOperator(MapOperatorConfig(fields=(field,)), fn=fn))


@pytest.mark.parametrize("mode, want", [("mean", lambda x: 1.5 * x + 0.5), ("sum", lambda x: 3 * x + 1)])
def test_mean_and_sum_combine_floats_and_pass_untouched_ints_and_bools_through(mode, want):
    graph = [_map("x", lambda x: x * 2) | _map("x", lambda x: x + 1), Merge(mode)]
    batch = next(iter(from_source(_source(), batch_size=5) >> graph[0] >> graph[1]))
    np.testing.assert_allclose(np.asarray(batch["x"]), want(np.arange(5, dtype=np.float32)))
    np.testing.assert_array_equal(np.asarray(batch["label"]), np.arange(5) % 3)
    assert batch["label"].dtype == jnp.int32 and batch["mask"].dtype == jnp.bool_


@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_mean_and_sum_reject_an_integer_field_a_branch_changed(mode):
    graph = Parallel([_map("x", lambda x: x * 2), _map("label", lambda y: y + 1)])
    pipeline = from_source(_source(), batch_size=5) >> graph >> Merge(mode)
    with pytest.raises(ValueError, match=rf"Merge\({mode}\): field 'label' \(int32\) differs between branches"):
        next(iter(pipeline))


def test_equal_concrete_ints_pass_outside_jit_and_stack_takes_the_first_branchs():
    ids = jnp.arange(4)
    merged = Merge("mean").apply_batch(({"y": jnp.arange(4)}, {"y": jnp.arange(4)}), ids, jnp.int32(0))
    np.testing.assert_array_equal(np.asarray(merged["y"]), np.arange(4))
    with pytest.raises(ValueError, match="field 'y'"):
        Merge("sum").apply_batch(({"y": jnp.arange(4)}, {"y": jnp.arange(4) + 1}), ids, jnp.int32(0))
    stacked = Merge("stack").apply_batch(({"y": jnp.arange(4)}, {"y": jnp.arange(4) + 1}), ids, jnp.int32(0))
    np.testing.assert_array_equal(np.asarray(stacked["y"]), np.arange(4))


def test_rebatch_drops_the_padding_rows_of_a_finite_streams_last_batch():
    pipeline = from_source(_source(10), batch_size=4, drop_remainder=False, num_epochs=1) >> Rebatch(3)
    batches = list(pipeline)
    assert [len(b["x"]) for b in batches] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([np.asarray(b["x"]) for b in batches]), np.arange(10))
    assert all(np.asarray(b["valid"]).all() for b in batches)
    # Without Rebatch the last batch is padded: 12 rows, 2 of them marked invalid.
    plain = list(from_source(_source(10), batch_size=4, drop_remainder=False, num_epochs=1))
    assert np.asarray(plain[-1]["valid"]).tolist() == [True, True, False, False]


def test_rebatch_over_two_padded_epochs_hands_out_each_record_once_per_epoch():
    pipeline = from_source(_source(10), batch_size=4, shuffle=True, seed=3, drop_remainder=False,
                           num_epochs=2) >> Rebatch(7)
    ids = np.concatenate([np.asarray(b["x"]) for b in pipeline])
    assert len(ids) == 20
    assert sorted(ids[:10]) == list(range(10)) and sorted(ids[10:]) == list(range(10))
