import itertools

import numpy as np
import pytest

from adapters import load_adapter
from adapters.datarax_adapter import DataraxAdapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import first_problem, job_for

SCENARIO = get_scenario("PR-1")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("pr1")


def test_the_state_is_saved_mid_epoch():
    for variant in SCENARIO.variants.values():
        per_epoch = variant.num_records // variant.batch_size
        assert 0 < variant.param("save_after") < per_epoch - variant.param("compared")


def test_datarax_is_conformant_and_resumes_the_identical_stream(root):
    loader, job = load_adapter("datarax"), job_for("PR-1", "small", root)
    assert first_problem(loader, job) is None
    try:
        outcomes = SCENARIO.outcomes(loader, job)
    finally:
        loader.close()
    assert outcomes["resumed_identical"] is True
    assert outcomes["saved_after_batches"] == 10 and outcomes["batches_compared"] == 5
    assert 0 < outcomes["state_bytes"] < 100_000  # a position and settings, never data
    assert outcomes["save_s"] > 0 and outcomes["resume_s"] > 0


class _ForgetsPosition(DataraxAdapter):
    """Saves correctly but resumes from the start of the epoch: a broken resume."""

    def resume(self, job, directory):
        pipeline = self._build(job)
        return iter(pipeline)


class _SavesTooLate(DataraxAdapter):
    """Counts prefetched batches as consumed: the resumed stream skips some."""

    def save_checkpoint(self, job, iterator, directory):
        for _ in itertools.islice(iterator, 2):
            pass
        super().save_checkpoint(job, iterator, directory)


@pytest.mark.parametrize("broken", [_ForgetsPosition, _SavesTooLate])
def test_a_resume_that_differs_is_measured_as_such(root, broken):
    loader = broken()
    try:
        assert SCENARIO.outcomes(loader, job_for("PR-1", "small", root))["resumed_identical"] is False
    finally:
        loader.close()


def test_loaders_without_checkpoints_say_why():
    small = SCENARIO.variant("small")
    assert "no iterator state" in load_adapter("numpy").supports(SCENARIO, small)
    assert load_adapter("datarax").supports(SCENARIO, small) is None
    assert not np.isin(["checkpoint"], sorted(get_scenario("PR-2").capabilities)).any()
