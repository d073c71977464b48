"""The tf.data adapters do every scenario they support: each small variant's batches pass the
scenario's checks against the stored inputs, its sampling check over two epochs, PR-1 resumes
bit for bit, and batches arrive as jax.Arrays on the device."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adapters import Job, load_adapter
from bench.datacache import ensure_data
from bench.measure import to_host
from scenarios import SCENARIOS, get_scenario

pytest.importorskip("tensorflow")

CASES = [
    ("CV-1", "small"), ("NLP-1", "small"), ("TAB-1", "small"), ("PC-1", "small"), ("IO-1", "small"),
    ("IO-1", "small-memory"), ("PR-2", "small"), ("TAB-2", "small"), ("NNX-1", "small"), ("MM-1", "small"),
    ("CV-2", "small"), ("IO-3", "small"), ("XFMR-1", "small"), ("NLP-2", "small"), ("PR-1", "small"),
    ("IO-2", "small-streaming"), ("CV-4", "small"), ("MM-2", "small"), ("MM-2", "small-logmel"), ("CV-3", "small"),
    ("CV-3", "small-cutmix"), ("PC-2", "small"), ("PC-3", "small"), ("PC-4", "small"), ("IO-4", "small"),
    ("IO-4", "small-disk"), ("DIST-1", "small-1dev"),
]
BATCHED = [("CV-1", "small"), ("NLP-2", "small"), ("PC-4", "small"), ("CV-3", "small-cutmix")]
SLOW_SAMPLING = {"IO-4"}  # each fresh pipeline refills its cache: two epochs of 24 blurs


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("tfdata-data")


@pytest.fixture(scope="module")
def adapters():
    opened = {name: load_adapter(name) for name in ("tfdata", "tfdata-batched")}
    yield opened
    for adapter in opened.values():
        adapter.close()


def _job(root, scenario_id: str, variant: str, delivery: str = "host") -> Job:
    scenario = get_scenario(scenario_id)
    paths, _ = ensure_data(scenario, scenario.variant(variant), seed=0, root=root)
    return Job(scenario_id, variant, paths, seed=0, cpu_budget=2, delivery=delivery)


def _batches(adapter, job: Job, count: int):
    iterator = adapter.open(job)
    try:
        yield from (to_host(b) for b in itertools.islice(iterator, count))
    finally:
        getattr(iterator, "close", lambda: None)()


@pytest.mark.parametrize("name, scenario_id, variant", [("tfdata", *c) for c in CASES]
                         + [("tfdata-batched", *c) for c in BATCHED])
def test_scenario_is_conformant(name, scenario_id, variant, root, adapters):
    adapter = adapters[name]
    job = _job(root, scenario_id, variant)
    scenario, spec = job.scenario, job.variant
    assert adapter.supports(scenario, spec) is None
    inputs = job.arrays()
    for batch in _batches(adapter, job, 3):
        assert scenario.check_batch(spec, batch, inputs) is None
    if scenario_id not in SLOW_SAMPLING:
        problem = scenario.check_sampling(spec, _batches(adapter, job, scenario.sampling_batches(spec)), inputs)
        assert problem is None


def test_supports_at_least_22_of_the_single_process_scenarios(adapters):
    for adapter in adapters.values():
        supported = [sid for sid, s in SCENARIOS.items() if sid != "DIST-3"
                     and any(adapter.supports(s, s.variant(v)) is None for v in s.variants)]
        assert len(supported) >= 22, supported


@pytest.mark.parametrize("scenario_id, variant, words", [
    ("PC-5", "small", "gradient"), ("DIST-3", "small", "process"), ("IO-1", "small-parquet", "Parquet"),
])
def test_unsupported_scenarios_say_why_the_library_cannot(scenario_id, variant, words, adapters):
    scenario = get_scenario(scenario_id)
    reason = adapters["tfdata"].supports(scenario, scenario.variant(variant))
    assert reason and words in reason and "does not implement" not in reason


@pytest.mark.parametrize("name", ["tfdata", "tfdata-batched"])
def test_checkpointed_iterator_resumes_bit_for_bit(name, root, adapters):
    job = _job(root, "PR-1", "small", delivery="device")
    outcomes = job.scenario.outcomes(adapters[name], job)
    assert outcomes["resumed_identical"] and outcomes["state_bytes"] > 0


@pytest.mark.parametrize("scenario_id", ["CV-1", "PR-1", "NLP-2"])
def test_delivers_jax_arrays_on_the_device(scenario_id, root, adapters):
    import jax

    job = _job(root, scenario_id, "small", delivery="device")
    iterator = adapters["tfdata-batched"].open(job)
    try:
        batch = next(iterator)
    finally:
        getattr(iterator, "close", lambda: None)()
    device = jax.devices(job.platform)[0]
    for name, leaf in batch.items():
        assert isinstance(leaf, jax.Array) and leaf.devices() == {device}, name
    assert job.scenario.check_batch(job.variant, {k: np.asarray(v) for k, v in batch.items()}, job.arrays()) is None
