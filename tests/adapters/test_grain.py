"""Grain ('grain'): the scenarios beyond the common ones (tests/adapters/test_peers.py): device
meshes (DIST-1 on one device, DIST-2 in a child with 8 forced devices), checkpoint/resume
through Grain's own iterator state (PR-1), and the element ops only the peers' NumPy module
gives it (TAB-2's log1p and hashing, PC-4's per-record random_apply); the pipeline shapes of
adapters.grain_pipeline: IO-3 (MapDataset.mix), CV-3 (MixUp/CutMix as a batch-level map), PC-3
(RebatchIterDataset) and PC-2 (one transform path per view)."""

import itertools
import json

import numpy as np

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


@pytest.mark.parametrize(("scenario_id", "variant"), [
    ("IO-3", "small"), ("CV-3", "small"), ("CV-3", "small-cutmix"), ("PC-3", "small"), ("PC-2", "small"),
    ("IO-4", "small"), ("IO-4", "small-disk")])
def test_pipeline_shape_scenarios_are_conformant(adapter, root, scenario_id, variant):
    conformant(adapter, job_for(scenario_id, variant, root))


def test_io3_mixes_each_source_without_repeats_within_its_epoch(adapter, root):
    """Grain's mix keeps each batch's share at the weights; each source's rows are a permutation
    of it before any repeats (its own epoch)."""
    job = job_for("IO-3", "small", root, delivery="host")
    batches = list(itertools.islice(adapter.open(job), 40))
    source = np.concatenate([np.asarray(b["source"]) for b in batches])
    index = np.concatenate([np.asarray(b["index"]) for b in batches])
    assert abs(source.mean() - 0.3) < 0.01
    count_b = job.variant.num_records // 2
    seen_b = index[source == 1][:count_b]
    assert len(np.unique(seen_b)) == len(seen_b)
    assert not np.array_equal(seen_b[:50], np.arange(50))  # shuffled, not stored order


def test_pc3_batches_cross_source_batch_boundaries(adapter, root):
    job = job_for("PC-3", "small", root, delivery="host")
    batches = list(itertools.islice(adapter.open(job), 3))
    index = np.concatenate([np.asarray(b["index"]) for b in batches])
    assert [len(b["x"]) for b in batches] == [96] * 3 and np.array_equal(index, np.arange(288))


@pytest.mark.parametrize("variant", ["small", "small-disk"])
def test_io4_computes_each_record_once_and_reuses_it(root, tmp_path, variant):
    """IO-4's cache: a record's transform runs the first time a batch reads it, never again; the
    later batches show what the store holds (RAM, or a memory-mapped .npy for ``disk``)."""
    from adapters import grain_pipeline as gp
    from adapters._records import NpyRecords

    job = job_for("IO-4", variant, root, delivery="host")
    cache, records = gp.CachedTransform(job, tmp_path), NpyRecords(job.data)
    computed = []
    compute = cache._compute
    cache._compute = lambda batch: computed.append(len(batch["index"])) or compute(batch)
    ids = np.arange(0, 128)
    first = cache.batch(records.gather(ids), ids, 0)
    overlapping = np.arange(64, 192)
    cache.batch(records.gather(overlapping), overlapping, 1)
    assert computed == [128, 64]  # only the 64 records not yet cached
    cache.store["image"][:8] = -7.0
    again = cache.batch(records.gather(ids), ids, 2)
    assert computed == [128, 64] and np.all(again["image"][:8] == -7.0)
    assert np.array_equal(again["image"][8:], first["image"][8:])
    assert (tmp_path / "image.npy").exists() == (variant == "small-disk")


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
