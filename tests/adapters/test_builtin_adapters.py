"""Each built-in adapter yields conformant CV-1 batches with the job's batch size."""

import dataclasses
import itertools

import numpy as np
import pytest

from adapters import Job, adapter_names, load_adapter
from bench.datacache import ensure_data
from bench.measure import materialize, to_host
from scenarios import get_scenario


@pytest.fixture(scope="module")
def cv1_job(tmp_path_factory):
    scenario = get_scenario("CV-1")
    variant = scenario.variant("small")
    paths, _ = ensure_data(scenario, variant, seed=0, root=tmp_path_factory.mktemp("cache"))
    return Job("CV-1", "small", paths, seed=0, cpu_budget=2)


@pytest.mark.parametrize("name", ["datarax", "numpy"])
def test_adapter_is_conformant_on_cv1(name, cv1_job):
    adapter = load_adapter(name)
    assert adapter.available() is None
    scenario, variant = cv1_job.scenario, cv1_job.variant
    assert adapter.supports(scenario, variant) is None
    try:
        for batch in itertools.islice(adapter.open(cv1_job), 3):
            assert materialize(batch)[0] == variant.batch_size
            assert scenario.check_batch(variant, to_host(batch)) is None
    finally:
        adapter.close()


@pytest.mark.parametrize("name", ["datarax", "numpy"])
def test_fresh_iterators_repeat_the_same_stream(name, cv1_job):
    adapter = load_adapter(name)
    first = [to_host(b)["label"] for b in itertools.islice(adapter.open(cv1_job), 2)]
    again = [to_host(b)["label"] for b in itertools.islice(adapter.open(cv1_job), 2)]
    adapter.close()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_unknown_adapter_lists_the_valid_names():
    with pytest.raises(KeyError, match="datarax"):
        load_adapter("no-such-loader")
    assert {"datarax", "numpy"} <= set(adapter_names())


@pytest.mark.parametrize("name", ["datarax", "numpy"])
def test_device_delivery_gives_jax_arrays_on_the_cpu_device(name, cv1_job):
    import jax

    adapter = load_adapter(name)
    try:
        batch = next(iter(adapter.open(cv1_job)))
        assert all(isinstance(v, jax.Array) and v.devices() == {jax.devices("cpu")[0]} for v in batch.values())
        host = next(iter(adapter.open(dataclasses.replace(cv1_job, delivery="host"))))
        # NumPy yields host arrays; datarax's jax.Arrays are converted by the harness, in the clock.
        expected = np.ndarray if name == "numpy" else jax.Array
        assert all(isinstance(v, expected) for v in host.values())
    finally:
        adapter.close()


def test_in_host_mode_datarax_batches_are_timed_to_host_arrays(cv1_job):
    """The harness's host delivery point turns datarax's jax.Arrays into NumPy arrays in the
    timed wait (tests/bench/test_measure.py shows a slow conversion lands in the latency)."""
    import time

    from bench.conformance import HOST
    from bench.measure import measure

    adapter = load_adapter("datarax")
    job = dataclasses.replace(cv1_job, delivery="host")
    seen = []
    try:
        assert type(HOST.wait(next(iter(adapter.open(job))))["image"]) is np.ndarray
        raw = measure(lambda: adapter.open(job), check=lambda b: seen.extend(map(type, b.values())),
                      warmup_batches=1, batches=2, repetitions=1, cpu_clock=time.process_time, delivery=HOST)
    finally:
        adapter.close()
    assert raw["latencies_s"] and set(seen) == {np.ndarray}
