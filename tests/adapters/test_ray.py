"""Ray Data ('ray'): the scenarios beyond the common ones (tests/adapters/test_peers.py):
device meshes (DIST-1 in process on one device, DIST-2 in a child with 8 forced devices), checkpoint/resume (PR-1)."""

import threading

import pytest

from adapters import load_adapter
from scenarios import get_scenario
from tests.adapters.peer_cases import conformant, job_for, resumes, sharded_in_child

NAME = 'ray'


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


def test_pr1_resumes_mid_epoch_bit_for_bit(adapter, root):
    outcomes = resumes(adapter, job_for("PR-1", "small", root))
    assert outcomes["saved_after_batches"] == 10


def test_gradients_through_the_pipeline_stay_datarax_only(adapter):
    pc5 = get_scenario("PC-5")
    assert adapter.supports(pc5, pc5.variant("small")) is not None


def test_close_waits_for_the_threads_of_an_iterator_left_open(adapter, root):
    """An iterator dropped mid-epoch still has Ray Data threads fetching blocks; a
    ``ray.shutdown()`` under them ends the process, so close() first waits them out."""
    from adapters.ray_adapter import RAY_DATA_THREADS, quiesce

    iterator = adapter.open(job_for("CV-1", "small", root))
    next(iterator)
    assert any(t.name.startswith(RAY_DATA_THREADS) for t in threading.enumerate())
    del iterator
    assert quiesce(timeout_s=30) == []
