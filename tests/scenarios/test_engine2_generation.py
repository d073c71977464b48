"""The engine-II scenarios' data: deterministic per seed, each small variant generated in < 10 s."""

import time

import pytest

from scenarios import get_scenario

IDS = ["CV-3", "PC-2", "PC-3", "PC-4", "PC-5", "IO-4", "DIST-1", "DIST-2"]


@pytest.mark.parametrize("sid", IDS)
def test_small_data_is_deterministic_seeded_and_quick(sid):
    scenario = get_scenario(sid)
    small = scenario.variant("small")
    started = time.perf_counter()
    first = scenario.generate(small, 0)
    assert time.perf_counter() - started < 10
    again, other = scenario.generate(small, 0), scenario.generate(small, 1)
    assert sorted(first) == sorted(f.name for f in scenario.input_fields(small))
    for f in scenario.input_fields(small):
        assert first[f.name].shape == (small.num_records, *f.shape) and first[f.name].dtype == f.dtype
        assert first[f.name].tobytes() == again[f.name].tobytes()
    assert any(first[k].tobytes() != other[k].tobytes() for k in first if k != "index")
    assert len(scenario.variants) >= 3 and {"small", "medium", "large"} <= set(scenario.variants)
