"""PC-5 (a learnable transform trained between batches) and IO-4 (a cached expensive transform):
the outcome scenarios of the pipeline graph."""

import numpy as np
import pytest

from adapters import load_adapter
from adapters.datarax_adapter import DataraxAdapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("pc5io4")


def test_pc5_datarax_conforms_and_its_loss_drops_when_it_trains(root):
    loader, job = load_adapter("datarax"), job_for("PC-5", "small", root)
    assert first_problem(loader, job, batches=3) is None
    outcomes = get_scenario("PC-5").outcomes(loader, job)
    loader.close()
    assert outcomes["batches_trained"] == 60 and outcomes["loss_decreased"] is True
    assert outcomes["loss_after"] < 0.2 * outcomes["loss_before"]


class _Frozen(DataraxAdapter):
    """The same pipeline without the optimizer step: conformant, but nothing is learned."""

    def open(self, job):
        super().open(job)
        pipeline, _ = self._pipelines[(job.scenario_id, job.variant_name, job.seed, job.shuffle)]
        return iter(pipeline)


def test_pc5_a_loader_that_does_not_train_is_reported_so(root):
    loader, job = _Frozen(), job_for("PC-5", "small", root)
    outcomes = get_scenario("PC-5").outcomes(loader, job)
    loader.close()
    assert outcomes["loss_decreased"] is False


def test_pc5_peers_say_why_they_cannot(root):
    scenario = get_scenario("PC-5")
    assert "no differentiable pipeline" in load_adapter("numpy").supports(scenario, scenario.variant("small"))
    assert "differentiable_pipeline" in load_adapter("grain").supports(scenario, scenario.variant("small"))


def test_pc5_a_non_affine_output_is_caught(root):
    scenario, job = get_scenario("PC-5"), job_for("PC-5", "small", root)
    batch = {k: np.asarray(v) for k, v in job.arrays().items()}
    rows = {k: v[:256] for k, v in batch.items()}
    assert scenario.check_batch(scenario.variant("small"), {**rows, "x": rows["x"] * 2 + 1}, batch) is None
    assert "not a per-feature affine map" in scenario.check_batch(scenario.variant("small"), {**rows, "x": rows["x"] ** 2}, batch)


@pytest.mark.parametrize("variant", ["small", "small-disk"])
def test_io4_datarax_conforms_and_epoch_two_is_served_from_the_cache(root, variant):
    loader, job = load_adapter("datarax"), job_for("IO-4", variant, root)
    assert first_problem(loader, job) is None
    outcomes = get_scenario("IO-4").outcomes(loader, job)
    loader.close()
    assert outcomes["batches_per_epoch"] == 32
    assert outcomes["epoch2_speedup"] > 2 and outcomes["epoch2_elements_per_s"] > outcomes["epoch1_elements_per_s"]


@pytest.mark.parametrize(
    "adapter, message",
    [
        (load_adapter("numpy"), None),
        (WrongTransforms(replace_param("box_blur", "iterations", 23)), "field 'image' differs"),
        (Rewrite(lambda b: {**b, "index": (b["index"] + 1) % 4096}), "field 'image' differs"),
    ],
)
def test_io4_numpy_conforms_and_wrong_work_is_caught(root, adapter, message):
    problem = first_problem(adapter, job_for("IO-4", "small", root), batches=1)
    assert problem is None if message is None else message in problem
