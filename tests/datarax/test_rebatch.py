"""Rebatch: regroups output batches across boundaries and resumes at the exact record."""

import numpy as np
import pytest

from datarax import from_source
from datarax.checkpoint import load_state, save_state
from datarax.dag.rebatch import Rebatch
from datarax.sources import MemorySource, MemorySourceConfig


def _pipeline(size, **options):
    source = MemorySource(MemorySourceConfig(), data={"id": np.arange(40, dtype=np.int32)})
    return from_source(source, batch_size=8, shuffle=True, seed=1, **options) >> Rebatch(size)


def _order():
    return np.concatenate([np.asarray(b["id"]) for b in from_source(
        MemorySource(MemorySourceConfig(), data={"id": np.arange(40, dtype=np.int32)}),
        batch_size=8, shuffle=True, seed=1, num_epochs=2)])


def test_rebatch_regroups_the_same_record_stream_and_ends_with_the_remainder():
    batches = [np.asarray(b["id"]) for b in _pipeline(12, num_epochs=2)]
    assert [len(b) for b in batches] == [12] * 6 + [8]
    np.testing.assert_array_equal(np.concatenate(batches), _order())


def test_state_resumes_mid_batch_even_into_another_rebatch_size(tmp_path):
    pipeline = _pipeline(12, prefetch=0)
    iterator = iter(pipeline)
    first = [np.asarray(next(iterator)["id"]) for _ in range(3)]  # 36 records: batch 4, offset 4
    state = pipeline.get_state()
    assert (state["batch_index"], state["record_offset"]) == (4, 4)
    save_state(tmp_path, state)
    resumed = _pipeline(5, num_epochs=2)
    resumed.set_state(load_state(tmp_path))
    rest = np.concatenate([np.asarray(b["id"]) for b in resumed])
    np.testing.assert_array_equal(np.concatenate(first + [rest]), _order())
    plain = from_source(MemorySource(MemorySourceConfig(), data={"id": np.arange(40, dtype=np.int32)}),
                        batch_size=8, shuffle=True, seed=1)
    with pytest.raises(ValueError, match="ends in Rebatch too"):
        plain.set_state(state)
    with pytest.raises(ValueError, match="Rebatch must be the last stage"):
        _pipeline(4) >> Rebatch(3)
