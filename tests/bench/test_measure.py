"""The measurement loop in-process: what is timed, how often iterators open, what stops a cell."""

import itertools
import os
import time

import numpy as np
import pytest

from bench.conformance import HOST
from bench.measure import NonConformant, materialize, measure, summarize


class SlowConversion:
    """A leaf whose conversion to a host array takes ``wait_s`` (a device array's copy home)."""

    def __init__(self, array, wait_s):
        self._array, self.wait_s = array, wait_s
        self.shape, self.dtype, self.ndim, self.nbytes = array.shape, array.dtype, array.ndim, array.nbytes

    def __array__(self, dtype=None, copy=None):
        time.sleep(self.wait_s)
        return self._array


class Loader:
    def __init__(self, make_batch):
        self.make_batch, self.opened = make_batch, 0

    def open(self):
        self.opened += 1

        def stream():
            i = 0
            while True:
                yield self.make_batch(i)
                i += 1

        return stream()


def _measure(loader, check=lambda batch: None, **kw):
    settings = dict(warmup_batches=2, batches=5, repetitions=3, cpu_clock=time.process_time)
    return measure(loader.open, check=check, **{**settings, **kw})


def test_windows_are_consecutive_batches_of_one_iterator_after_a_drain_window():
    loader = Loader(lambda i: {"x": np.full((8, 4), i, np.float32)})
    yielded = []
    loader.make_batch = (lambda make: lambda i: yielded.append(i) or make(i))(loader.make_batch)
    raw = _measure(loader)
    assert loader.opened == 1 + 3  # the measured iterator, then three warm first batches
    # first batch + 1 more warm-up + the untimed drain window (5) + 3 windows x 5 from the first
    # iterator, then 0 from each fresh one
    assert yielded == list(range(1 + 1 + 5 + 3 * 5)) + [0, 0, 0]
    assert len(raw["drain_latencies_s"]) == 5 and [len(rep) for rep in raw["latencies_s"]] == [5, 5, 5]
    assert raw["bytes_per_batch"] == 8 * 4 * 4
    assert summarize(raw, batch_size=8)["drain_window_elements_per_s"] > 0


def test_host_delivery_converts_every_leaf_inside_the_clock():
    """A leaf whose conversion takes 20 ms shows up in every latency; a cheap one does not."""

    def batches(wait_s):
        return Loader(lambda i: {"x": SlowConversion(np.zeros((8, 4), np.float32), wait_s), "y": np.zeros(8)})

    seen = []
    slow = _measure(batches(0.02), check=lambda b: seen.append(type(b["x"])), delivery=HOST)
    assert min(min(rep) for rep in slow["latencies_s"]) >= 0.02
    assert min(slow["ttfb_warm_s"]) >= 0.02 and slow["ttfb_cold_s"] >= 0.02
    assert set(seen) == {np.ndarray}  # the check sees the converted batch
    fast = _measure(batches(0.0), delivery=HOST)
    assert max(max(rep) for rep in fast["latencies_s"]) < 0.02


def test_device_delivery_waits_inside_the_clock_for_the_batch_to_be_ready():
    """Batches are results of a jitted computation dispatched asynchronously: next() returns
    at once, and the latency includes the computation only if the harness waits for it."""
    import statistics

    import jax
    import jax.numpy as jnp

    slow = jax.jit(lambda x: jax.lax.fori_loop(0, 100, lambda _, x: jnp.tanh(x @ x), x))
    x = jnp.ones((256, 256), jnp.float32) / 256
    slow(x).block_until_ready()
    compute_s = statistics.median(_seconds(lambda: slow(x).block_until_ready()) for _ in range(3))
    dispatch_s = statistics.median(_seconds(lambda: slow(x).delete()) for _ in range(3))
    assert dispatch_s < compute_s / 4  # the premise: dispatch is asynchronous here
    raw = _measure(Loader(lambda i: {"x": slow(x)}), delivery=_on_cpu(), batches=3, repetitions=2)
    # Waiting makes a batch cost its computation, many times what next() alone takes.
    assert statistics.median(t for rep in raw["latencies_s"] for t in rep) > 4 * dispatch_s


def _seconds(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _on_cpu():
    import jax

    from bench.conformance import DeliveryPoint

    return DeliveryPoint.on(jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0]))


def _device_batch(i, host_label_from=None):
    import jax

    label = np.full(8, i, np.int32)
    if host_label_from is None or i < host_label_from:
        label = jax.device_put(label, jax.devices("cpu")[0])
    return {"image": jax.device_put(np.zeros((8, 4), np.float32), jax.devices("cpu")[0]), "label": label}


def test_a_host_leaf_under_device_delivery_is_non_conformant_naming_the_field():
    with pytest.raises(NonConformant, match=r"field 'label' is a numpy.ndarray, not a jax.Array.*cpu:0"):
        _measure(Loader(lambda i: _device_batch(i, host_label_from=0)), delivery=_on_cpu())
    # Conformant first, a host leaf from the iterator's 12th batch on: caught in its timed window.
    with pytest.raises(NonConformant, match=r"timed window 1 of 3, its batch 5 \(batch 12 of the iterator\): field 'label'"):
        _measure(Loader(lambda i: _device_batch(i, host_label_from=11)), delivery=_on_cpu())
    assert _measure(Loader(_device_batch), delivery=_on_cpu())["latencies_s"]


def test_a_batch_on_another_device_is_non_conformant():
    from bench.conformance import DeliveryPoint

    elsewhere = DeliveryPoint(frozenset({"gpu-that-is-not-here"}), "gpu:7")
    with pytest.raises(NonConformant, match=r"field 'image' is a jax.Array on cpu:0: .* needs it on gpu:7"):
        _measure(Loader(_device_batch), delivery=elsewhere)


def _zeros_from(start):
    """Right values (each row its batch number + 1) on the first batches, zeros from ``start``."""
    return Loader(lambda i: {"x": np.full((8, 4), 0 if i >= start else i + 1, np.float32)})


def _no_zeros(batch):
    return "zeros" if not batch["x"].any() else None


def test_timed_batches_are_sampled_and_a_later_wrong_batch_names_its_window_and_batch():
    """Right on its first batch, zeros from the iterator's batch 10 on: a sampled timed batch
    catches it, and the message says which window, which batch in it and which of the stream."""
    import re

    settings = dict(warmup_batches=2, batches=5, repetitions=4)
    for seed in range(5):
        with pytest.raises(NonConformant, match="sampled, checked after the windows") as info:
            _measure(_zeros_from(9), check=_no_zeros, sample_seed=seed, **settings)
        window, batch, number = map(int, re.search(
            r"timed window (\d) of 4, its batch (\d) \(batch (\d+) of the iterator\)", str(info.value)).groups())
        assert number >= 10 and number == 2 + 5 + 5 * (window - 1) + batch  # warm-up, drain window, windows
    _measure(_zeros_from(10**6), check=_no_zeros, **settings)  # never zeros: conformant


def test_one_batch_per_window_is_sampled_at_a_seeded_position_and_checked_after_all_windows():
    seen = []  # (batch value, batches yielded so far) for every check after the first batch's
    loader = Loader(lambda i: {"x": np.full((8, 4), i, np.float32)})
    produced = []
    loader.make_batch = (lambda make: lambda i: produced.append(i) or make(i))(loader.make_batch)

    def check(batch):
        seen.append((int(batch["x"][0, 0]), len(produced)))

    def sampled(seed):
        seen.clear(), produced.clear()
        _measure(loader, check=check, warmup_batches=2, batches=5, repetitions=4, sample_seed=seed)
        values = [value for value, _ in seen[1:]]
        assert all(after == 2 + 5 + 4 * 5 for _, after in seen[1:])  # all after the last window
        return values

    values = sampled(0)
    assert len(values) == 4 and [(v - 7) // 5 for v in values] == [0, 1, 2, 3]  # one in each window
    assert sampled(0) == values  # seeded
    assert len({tuple(sampled(seed)) for seed in range(8)}) > 1  # and the seed moves it


def test_checking_sampled_batches_costs_no_latency_and_is_counted():
    def slow_check(batch):
        time.sleep(0.03)

    raw = _measure(Loader(lambda i: {"x": np.zeros((8, 4), np.float32)}), check=slow_check)
    assert max(max(rep) for rep in raw["latencies_s"]) < 0.03
    assert raw["conformance_s"] >= 0.03 * (1 + 3)  # the first batch and one per window


def test_a_failed_check_stops_before_timing():
    loader = Loader(lambda i: {"x": np.zeros((8, 4))})
    with pytest.raises(NonConformant, match="bad values"):
        _measure(loader, check=lambda batch: "bad values")
    assert loader.opened == 1


@pytest.mark.parametrize(
    "make_batch, words",
    [
        (lambda i: {"x": np.zeros((8 if i < 3 else 7, 4))}, ["drain window, its batch 3 (batch 4 of the iterator)", "(7, 4)"]),
        (lambda i: {"x": np.zeros((8, 4), np.float32 if i < 3 else np.float64)}, ["float64"]),
        (lambda i: [np.zeros(8)], ["list", "dict of arrays"]),
        (lambda i: {"x": np.zeros(8), "y": np.zeros(7)}, ["disagree"]),
    ],
)
def test_a_batch_breaking_the_contract_is_non_conformant(make_batch, words):
    with pytest.raises(NonConformant) as info:
        _measure(Loader(make_batch), warmup_batches=1)
    for word in words:
        assert word in str(info.value)


def test_an_iterator_that_ends_is_named():
    def finite():
        yield {"x": np.zeros((8, 4))}

    with pytest.raises(NonConformant, match="iterator ended"):
        measure(finite, check=lambda b: None, warmup_batches=3, batches=2, repetitions=1, cpu_clock=lambda: 0.0)


def test_materialize_counts_elements_and_bytes():
    assert materialize({"a": np.zeros((4, 3), np.float32), "b": np.zeros(4, np.int64)}) == (4, 4 * 3 * 4 + 4 * 8)


def test_a_window_goes_on_until_it_has_lasted_min_window_s():
    def slow():
        while True:
            time.sleep(0.002)
            yield {"x": np.zeros((8, 4), np.float32)}

    raw = measure(slow, check=lambda b: None, warmup_batches=1, batches=2, repetitions=2,
                  cpu_clock=lambda: 0.0, min_window_s=0.03)
    for window in raw["latencies_s"]:
        assert sum(window) >= 0.03 and len(window) > 2  # 2 ms batches: about 15 of them
        assert sum(window[:-1]) < 0.03  # and not one batch more than that takes


def test_stolen_cpu_time_is_read_at_each_window_edge_and_reported_as_a_share():
    ticks = iter(range(0, 1000, 2))  # the hypervisor takes 2 s between any two reads

    def batches():
        while True:
            yield {"x": np.zeros((8, 4), np.float32)}

    raw = measure(batches, check=lambda b: None, warmup_batches=1, batches=3, repetitions=4,
                  cpu_clock=lambda: 0.0, steal_clock=lambda: float(next(ticks)))
    assert raw["stolen_cpu_seconds"] == 4 * 2.0  # only inside the windows, not between them
    window_s = sum(map(sum, raw["latencies_s"]))
    m = summarize(raw, batch_size=8)
    assert m["cpu_steal_s"] == 8.0 and m["cpu_steal_fraction"] == pytest.approx(min(1.0, 8.0 / (window_s * os.cpu_count())))
    unknown = measure(batches, check=lambda b: None, warmup_batches=1, batches=3, repetitions=2, cpu_clock=lambda: 0.0)
    assert unknown["stolen_cpu_seconds"] is None
    assert "steal" in summarize(unknown, batch_size=8)["cpu_steal_absent"]


def test_the_device_wait_waits_on_every_device_value_and_rejects_non_dicts():
    waited = []

    class Pending:
        def block_until_ready(self):
            waited.append(self)

    leaves = [Pending(), Pending()]
    _on_cpu().wait({"a": leaves[0], "b": leaves[1], "c": np.zeros(3)})
    assert waited == leaves
    for delivery in (_on_cpu(), HOST):
        with pytest.raises(NonConformant, match="a batch is a list"):
            delivery.wait([np.zeros(3)])


def test_a_timed_batch_of_another_dtype_is_non_conformant():
    def switching():
        for i in itertools.count():
            yield {"x": np.zeros((8, 4), np.float32 if i < 4 else np.float64)}

    with pytest.raises(NonConformant, match="dtypes or batch size differ"):
        measure(switching, check=lambda b: None, warmup_batches=2, batches=4, repetitions=2, cpu_clock=lambda: 0.0)


def test_summarize_is_sustained_throughput_over_every_window():
    raw = {
        "ttfb_cold_s": 2.0,
        "ttfb_warm_s": [1.0, 2.0, 3.0],
        "latencies_s": [[0.5, 0.5], [0.25, 0.25], [0.5, 0.5]],
        "bytes_per_batch": 1000,
        "cpu_seconds": 9.0,
    }
    m = summarize(raw, batch_size=10)
    assert m["elements_per_s_by_repetition"] == [20.0, 40.0, 20.0]  # every batch of a window counts
    # 60 elements in 2.5 s, not the median window's 20/s: one cheap window in three counts too
    assert m["elements_per_s"] == 24.0 and m["batches_per_s"] == 2.4 and m["bytes_per_s"] == 2400.0
    assert m["elements_per_s_median_window"] == 20.0
    assert m["ttfb_s"] == 2.0 and m["ttfb_warm_s"] == 2.0 and m["ttfb_warm_s_by_repetition"] == [1.0, 2.0, 3.0]
    assert m["latency_p50_s"] == 0.5 and m["latency_samples"] == 6
    assert m["cpu_s_per_element"] == pytest.approx(9.0 / 60)  # 3 windows x 2 batches x 10


def test_cpu_seconds_cover_the_timed_repetitions_not_the_collection_between_them(monkeypatch):
    """A fake CPU clock advancing 1 s per batch and 100 s per gc.collect(): only the batches count."""
    clock = [0.0]

    def collect():
        clock[0] += 100.0

    def batch(i):
        clock[0] += 1.0
        return {"x": np.zeros((2, 3), np.float32)}

    monkeypatch.setattr("bench.measure.gc.collect", collect)
    raw = _measure(Loader(batch), cpu_clock=lambda: clock[0])
    assert raw["cpu_seconds"] == 3 * 5  # 3 repetitions of 5 batches
