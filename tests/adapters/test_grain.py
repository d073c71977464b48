"""Grain ('grain'): the scenarios beyond the common ones (tests/adapters/test_peers.py): device
meshes (DIST-1 on one device, DIST-2 in a child with 8 forced devices), checkpoint/resume
through Grain's own iterator state (PR-1), and the element ops only the peers' NumPy module
gives it (TAB-2's log1p and hashing, PC-4's per-record random_apply)."""

import json

import pytest

from adapters import load_adapter
from tests.adapters.peer_cases import conformant, job_for, resumes, sharded_in_child

NAME = "grain"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp(NAME)


@pytest.fixture(scope="module")
def adapter():
    loader = load_adapter(NAME)
    yield loader
    loader.close()


@pytest.mark.parametrize("scenario_id", ["TAB-2", "PC-4"])
def test_numpy_element_op_scenarios_are_conformant(adapter, root, scenario_id):
    conformant(adapter, job_for(scenario_id, "small", root))


def test_dist1_one_device_variant_is_conformant(adapter, root):
    conformant(adapter, job_for("DIST-1", "small-1dev", root))


def test_dist2_batches_carry_the_scenario_mesh(root):
    outcomes = sharded_in_child(NAME, "DIST-2", "small", root)
    assert outcomes["mesh"] == "data=4,model=2" and outcomes["per_device_shard_shape"] == "64x256"


def test_pr1_resumes_from_grains_own_iterator_state(adapter, root, tmp_path):
    outcomes = resumes(adapter, job_for("PR-1", "small", root))
    assert outcomes["saved_after_batches"] == 10
    job = job_for("PR-1", "small", root)
    iterator = adapter.open(job)
    for _ in range(3):
        next(iterator)
    adapter.save_checkpoint(job, iterator, tmp_path)
    state = json.loads(next(tmp_path.iterdir()).read_text())
    assert isinstance(state, dict) and state  # Grain's get_state(), not a position of our own
