import numpy as np
import pytest

from adapters import load_adapter
from adapters.numpy_adapter import NumpyAdapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("PR-2")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("pr2")


def test_the_work_is_cv1s_with_record_ids():
    small = SCENARIO.variant("small")
    assert SCENARIO.transforms(small) == get_scenario("CV-1").transforms(get_scenario("CV-1").variant("small"))
    data = SCENARIO.generate(small, 0)
    np.testing.assert_array_equal(data["index"], np.arange(small.num_records))
    assert data["image"].tobytes() == SCENARIO.generate(small, 0)["image"].tobytes()


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_determinism_is_measured_and_holds(root, adapter):
    loader, job = load_adapter(adapter), job_for("PR-2", "small", root)
    assert first_problem(loader, job) is None
    try:
        outcomes = SCENARIO.outcomes(loader, job)
    finally:
        loader.close()
    assert outcomes == {"batches_compared": 3, "same_seed_identical": True, "other_seed_differs": True}


class _Unseeded(NumpyAdapter):
    """Draws fresh entropy on every open: conformant batches, but not reproducible."""

    def open(self, job):
        import dataclasses

        return super().open(dataclasses.replace(job, seed=int(np.random.SeedSequence().entropy % 2**31)))


class _IgnoresSeed(NumpyAdapter):
    def open(self, job):
        import dataclasses

        return super().open(dataclasses.replace(job, seed=0))


def test_a_nondeterministic_loader_is_reported_not_hidden(root):
    job = job_for("PR-2", "small", root)
    assert SCENARIO.outcomes(_Unseeded(), job)["same_seed_identical"] is False
    assert SCENARIO.outcomes(_IgnoresSeed(), job)["other_seed_differs"] is False


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(replace_param("normalize", "scale", 1.0)), "leaves the normalized range"),
        (Rewrite(lambda b: {**b, "label": (b["label"] + 1) % 10}), "field 'label' differs"),
        (WrongTransforms(lambda ts: tuple(t for t in ts if t.name != "random_horizontal_flip")), "0.00 of"),
        (WrongTransforms(replace_param("random_horizontal_flip", "p", 1.0)), "1.00 of"),
        (Rewrite(lambda b: {k: v[1:] for k, v in b.items()}), "shape"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("PR-2", "small", root))
