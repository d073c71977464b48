"""Cache(directory=…): rows kept on disk, surviving the process; crash-safe; foreign caches rejected."""

import numpy as np
import pytest

from datarax import from_source
from datarax.dag.cache import Cache
from datarax.dag.cache_disk import DiskStore, describe
from datarax.dag.nodes import OperatorNode
from datarax.operators import MapOperator, MapOperatorConfig
from datarax.operators.image import Resize, ResizeConfig
from datarax.sources import MemorySource, MemorySourceConfig

N = 20
DATA = {"image": np.random.default_rng(0).uniform(size=(N, 8, 8, 3)).astype(np.float32),
        "id": np.arange(N, dtype=np.int32)}


def _subgraph(size=4, power=2.0):
    return [OperatorNode(Resize(ResizeConfig(field="image", size=(size, size)))),
            OperatorNode(MapOperator(MapOperatorConfig(fields=("image",)), fn=lambda x: x ** power))]


def _run(stages, epochs=1):
    pipeline = from_source(MemorySource(MemorySourceConfig(), data=DATA), batch_size=5, shuffle=True, seed=1,
                           num_epochs=epochs, prefetch=0)
    for stage in stages:
        pipeline = pipeline >> stage
    return [{k: np.asarray(v) for k, v in b.items()} for b in pipeline]


def test_disk_cache_equals_the_uncached_graph_and_a_new_process_reads_it_back(tmp_path):
    want = _run(_subgraph())
    first = Cache(_subgraph(), max_bytes=0, directory=tmp_path, num_records=N)
    got = _run([first])
    assert first.stats() == {"hits": 0, "misses": N, "records": 0, "bytes": 0, "disk_records": N}
    again = Cache(_subgraph(), max_bytes=0, directory=tmp_path, num_records=N)  # as a restarted job builds it
    reread = _run([again])
    assert again.stats()["misses"] == 0 and again.stats()["hits"] == N
    for a, b, c in zip(want, got, reread, strict=True):
        np.testing.assert_allclose(b["image"], a["image"], rtol=1e-6)
        np.testing.assert_array_equal(c["image"], b["image"])
        np.testing.assert_array_equal(c["id"], a["id"])


def test_memory_budget_still_bounds_the_in_memory_tier(tmp_path):
    row = 4 * 4 * 3 * 4 + 4
    cache = Cache(_subgraph(), max_bytes=7 * row, directory=tmp_path, num_records=N)
    _run([cache], epochs=2)
    stats = cache.stats()
    assert stats["records"] == 7 and stats["bytes"] == 7 * row and stats["disk_records"] == N
    assert stats["misses"] == N and stats["hits"] == N


class _FailingField:
    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype

    def __setitem__(self, key, value):
        raise OSError("disk full (simulated crash mid-write)")


def test_a_crash_mid_write_never_leaves_a_record_marked_filled(tmp_path):
    graph = describe(_subgraph())
    store = DiskStore(tmp_path, N, graph)
    rows = {"a": np.ones((2, 3), np.float32), "b": np.ones((2,), np.int32)}
    store.write(np.array([0, 1]), rows)
    store.fields["b"] = _FailingField(store.fields["b"])  # field "a" is written, then the crash
    with pytest.raises(OSError, match="simulated"):
        store.write(np.array([2, 3]), {k: v * 2 for k, v in rows.items()})
    reopened = DiskStore(tmp_path, N, graph)
    assert reopened.has(np.arange(4)).tolist() == [True, True, False, False]
    np.testing.assert_array_equal(reopened.read(np.array([0, 1]))["a"], rows["a"])


def test_a_cache_built_for_another_subgraph_or_source_is_rejected(tmp_path):
    _run([Cache(_subgraph(), directory=tmp_path, num_records=N)])
    with pytest.raises(ValueError, match=r"sub-graph differs at .*ResizeConfig.*size=\(4, 4\)"):
        Cache(_subgraph(size=5), directory=tmp_path, num_records=N)
    with pytest.raises(ValueError, match="sub-graph differs at .*fn"):
        Cache(_subgraph(power=3.0), directory=tmp_path, num_records=N)
    with pytest.raises(ValueError, match=f"num_records {N} != 40"):
        Cache(_subgraph(), directory=tmp_path, num_records=40)
    with pytest.raises(ValueError, match="needs both directory and num_records"):
        Cache(_subgraph(), directory=tmp_path)
