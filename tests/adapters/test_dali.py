"""NVIDIA DALI's adapter: every scenario it supports passes the scenario's checks on its small
variant (CPU operators, ``device_id=None``), batches arrive as jax.Arrays on the job's sharding,
and the scenarios it does not run carry a reason."""

from __future__ import annotations

import dataclasses
import itertools

import jax
import numpy as np
import pytest

pytest.importorskip("nvidia.dali")

from adapters import Job, load_adapter  # noqa: E402
from bench.datacache import ensure_data  # noqa: E402
from bench.measure import to_host  # noqa: E402
from scenarios import SCENARIOS, get_scenario  # noqa: E402
from tests.adapters.peer_cases import sharded_in_child  # noqa: E402

BATCHES = 3
CELLS = [
    ("CV-1", "small"), ("NLP-1", "small"), ("TAB-1", "small"), ("PC-1", "small"), ("PC-1", "depth1"),
    ("IO-1", "small"), ("IO-1", "small-memory"), ("IO-1", "small-array_record"), ("IO-1", "small-parquet"),
    ("PR-2", "small"), ("XFMR-1", "small"), ("CV-2", "small"),
    ("CV-4", "small"), ("MM-2", "small"), ("MM-2", "small-logmel"),
    ("PC-4", "small"), ("TAB-2", "small"), ("MM-1", "small"), ("NLP-2", "small"), ("IO-3", "small"),
    ("PC-2", "small"), ("PC-3", "small"), ("CV-3", "small"), ("CV-3", "small-cutmix"), ("PR-1", "small"),
    ("IO-4", "small"), ("IO-4", "small-disk"), ("DIST-1", "small-1dev"),
    ("NNX-1", "small"), ("IO-2", "small-streaming"), ("IO-2", "small-eager"),
]


@pytest.fixture(scope="module")
def dali():
    adapter = load_adapter("dali")
    yield adapter
    adapter.close()


def _job(tmp_path_factory, scenario_id: str, variant_name: str) -> Job:
    scenario = get_scenario(scenario_id)
    paths, _ = ensure_data(scenario, scenario.variant(variant_name), seed=0, root=tmp_path_factory.mktemp("dali"))
    return Job(scenario_id, variant_name, paths, seed=0, cpu_budget=2)


@pytest.mark.parametrize(("scenario_id", "variant_name"), CELLS)
def test_supported_cell_passes_the_scenario_checks(dali, tmp_path_factory, scenario_id, variant_name):
    job = _job(tmp_path_factory, scenario_id, variant_name)
    assert dali.supports(job.scenario, job.variant) is None
    arrays = job.arrays()  # read the headers before DALI's threads run (CPython 3.11's AST state is not thread-safe)
    dali.prepare(job)
    iterator = dali.open(job)
    try:
        for batch in itertools.islice(iterator, BATCHES):
            assert all(isinstance(v, jax.Array) for v in batch.values()), "delivery must yield jax.Arrays"
            assert all(v.sharding == job.sharding() for v in batch.values())
            assert job.scenario.check_batch(job.variant, to_host(batch), arrays) is None
    finally:
        getattr(iterator, "close", lambda: None)()
    sampling = dali.open(job)
    try:
        taken = itertools.islice(sampling, job.scenario.sampling_batches(job.variant))
        assert job.scenario.check_sampling(job.variant, (to_host(b) for b in taken), arrays) is None
    finally:
        getattr(sampling, "close", lambda: None)()


def test_fresh_iterators_replay_the_seeded_stream(dali, tmp_path_factory):
    job = _job(tmp_path_factory, "CV-1", "small")
    first, second = (to_host(next(iter(dali.open(job)))) for _ in range(2))
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_every_unsupported_scenario_says_why(dali):
    for scenario in SCENARIOS.values():
        for variant in scenario.variants.values():
            reason = dali.supports(scenario, variant)
            assert reason is None or (isinstance(reason, str) and len(reason) > 10), (scenario.id, variant.name)
    pc5 = get_scenario("PC-5")
    assert dali.supports(pc5, next(iter(pc5.variants.values()))) is not None


def test_checkpointed_pipeline_resumes_batch_for_batch(dali, tmp_path_factory):
    job = _job(tmp_path_factory, "PR-1", "small")
    job.arrays()
    outcome = job.scenario.outcomes(dali, job)
    assert outcome["resumed_identical"] is True
    assert outcome["state_bytes"] > 0


def test_cache_is_computed_once_per_adapter(tmp_path_factory, monkeypatch):
    adapter = load_adapter("dali")
    fills = []
    original = type(adapter)._fill
    monkeypatch.setattr(type(adapter), "_fill", lambda self, job: fills.append(job) or original(self, job))
    job = _job(tmp_path_factory, "IO-4", "small-disk")
    job.arrays()
    try:
        firsts = [to_host(next(iter(adapter.open(job)))) for _ in range(2)]
        np.testing.assert_array_equal(firsts[0]["image"], firsts[1]["image"])
        assert len(fills) == 1
    finally:
        adapter.close()


def test_supports_at_least_22_of_the_single_process_scenarios(dali):
    supported = [sid for sid, s in SCENARIOS.items() if sid != "DIST-3"
                 and any(dali.supports(s, s.variant(v)) is None for v in s.variants)]
    assert len(supported) >= 22, supported


def test_host_delivery_yields_numpy_batches(dali, tmp_path_factory):
    job = dataclasses.replace(_job(tmp_path_factory, "CV-1", "small"), delivery="host")
    job.arrays()
    batch = next(iter(dali.open(job)))
    assert all(isinstance(v, np.ndarray) for v in batch.values())


def test_dist2_batches_carry_the_scenario_mesh(tmp_path_factory):
    outcomes = sharded_in_child("dali", "DIST-2", "small", tmp_path_factory.mktemp("dali-dist"))
    assert outcomes["mesh"] == "data=4,model=2" and outcomes["per_device_shard_shape"] == "64x256"
