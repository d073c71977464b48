import pytest

from adapters import load_adapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import first_problem, job_for

SCENARIO = get_scenario("IO-2")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("io2")


def test_each_size_has_a_streaming_and_an_eager_variant():
    for size in ("small", "medium", "large"):
        streaming, eager = SCENARIO.variant(f"{size}-streaming"), SCENARIO.variant(f"{size}-eager")
        assert (streaming.param("backend"), eager.param("backend")) == ("npy", "memory")
        assert streaming.num_records == eager.num_records


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
@pytest.mark.parametrize("mode", ["streaming", "eager"])
def test_adapters_are_conformant_and_the_load_time_is_measured(root, adapter, mode):
    loader, job = load_adapter(adapter), job_for("IO-2", f"small-{mode}", root)
    assert first_problem(loader, job) is None
    outcomes = SCENARIO.outcomes(loader, job)
    assert outcomes["mode"] == mode and outcomes["eager_load_s"] > 0
    assert outcomes["dataset_bytes"] == 8192 * (3072 + 4 + 4)

