"""The measurement loop in-process: what is timed, how often iterators open, what stops a cell."""

import itertools
import os
import time

import numpy as np
import pytest

from bench.measure import NonConformant, materialize, measure, summarize, wait_ready


class SlowDeviceArray:
    """Looks like a jax.Array whose computation finishes only when waited on."""

    def __init__(self, array, wait_s):
        self._array, self.wait_s = array, wait_s
        self.shape, self.dtype, self.ndim, self.nbytes = array.shape, array.dtype, array.ndim, array.nbytes

    def block_until_ready(self):
        time.sleep(self.wait_s)
        return self

    def __array__(self, dtype=None, copy=None):
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


def test_windows_are_consecutive_batches_of_one_iterator_and_materialization_is_timed():
    loader = Loader(lambda i: {"x": SlowDeviceArray(np.full((8, 4), i, np.float32), 0.01)})
    yielded = []
    loader.make_batch = (lambda make: lambda i: yielded.append(i) or make(i))(loader.make_batch)
    raw = _measure(loader)
    assert loader.opened == 1 + 3  # the measured iterator, then three warm first batches
    # first batch + 1 more warm-up + 3 windows x 5 from the first iterator, then 0 from each fresh one
    assert yielded == list(range(1 + 1 + 3 * 5)) + [0, 0, 0]
    assert [len(rep) for rep in raw["latencies_s"]] == [5, 5, 5]
    assert min(min(rep) for rep in raw["latencies_s"]) >= 0.01
    assert len(raw["ttfb_warm_s"]) == 3 and min(raw["ttfb_warm_s"]) >= 0.01
    assert raw["bytes_per_batch"] == 8 * 4 * 4 and raw["ttfb_cold_s"] >= 0.01


def test_a_failed_check_stops_before_timing():
    loader = Loader(lambda i: {"x": np.zeros((8, 4))})
    with pytest.raises(NonConformant, match="bad values"):
        _measure(loader, check=lambda batch: "bad values")
    assert loader.opened == 1


@pytest.mark.parametrize(
    "make_batch, words",
    [
        (lambda i: {"x": np.zeros((8 if i < 3 else 7, 4))}, ["timed batch", "(7, 4)"]),
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


def test_wait_ready_waits_on_every_device_value_and_rejects_non_dicts():
    waited = []

    class Pending:
        def block_until_ready(self):
            waited.append(self)

    leaves = [Pending(), Pending()]
    wait_ready({"a": leaves[0], "b": leaves[1], "c": np.zeros(3)})
    assert waited == leaves
    with pytest.raises(NonConformant, match="a batch is a list"):
        wait_ready([np.zeros(3)])


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
