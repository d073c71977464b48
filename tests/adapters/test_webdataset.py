"""WebDataset ('webdataset'): the scenarios beyond the common ones (tests/adapters/test_peers.py):
device meshes (DIST-1 in process on one device, DIST-2 in a child with 8 forced devices)."""

import pytest

from adapters import load_adapter
from scenarios import get_scenario
from tests.adapters.peer_cases import conformant, job_for, resumes, sharded_in_child

NAME = 'webdataset'


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp(NAME)


@pytest.fixture(scope="module")
def adapter():
    loader = load_adapter(NAME)
    yield loader
    loader.close()


def test_dist1_one_device_variant_is_conformant(adapter, root):
    conformant(adapter, job_for("DIST-1", "small-1dev", root))


def test_dist2_batches_carry_the_scenario_mesh(root):
    outcomes = sharded_in_child(NAME, "DIST-2", "small", root)
    assert outcomes["mesh"] == "data=4,model=2" and outcomes["per_device_shard_shape"] == "64x256"


def test_pr1_is_not_claimed(adapter):
    pr1 = get_scenario("PR-1")
    assert adapter.supports(pr1, pr1.variant("small")) is not None


def test_gradients_through_the_pipeline_stay_datarax_only(adapter):
    pc5 = get_scenario("PC-5")
    assert adapter.supports(pc5, pc5.variant("small")) is not None


def test_io3_mixes_sources_by_random_mix(adapter, root):
    conformant(adapter, job_for("IO-3", "small", root))
