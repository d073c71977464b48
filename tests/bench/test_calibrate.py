"""The gate's calibration: exact binomial bounds, trials judged like the gate, the injection."""

import time

import numpy as np
import pytest

from adapters._inject import SLOWDOWN_ENV, injected_fraction, slowed
from bench.calibrate import clopper_pearson, render, trials
from bench.profile import GateConfig

CONFIG = GateConfig(mode="absolute", targets=("datarax",), p_threshold=0.01, min_effect=0.10)


def test_clopper_pearson_bounds():
    low, high = clopper_pearson(0, 8)
    assert low == 0.0 and high == pytest.approx(0.369, abs=1e-3)  # 1 - 0.025 ** (1 / 8)
    low, high = clopper_pearson(8, 8)
    assert high == 1.0 and low == pytest.approx(0.631, abs=1e-3)
    low, high = clopper_pearson(3, 10)
    assert low < 0.3 < high


def test_trials_are_disjoint_groups_judged_like_the_gate():
    rng = np.random.default_rng(0)
    k, n = 5, 8
    samples = {
        0.0: list(1000 * np.exp(rng.normal(0, 0.01, 2 * n * k))),
        0.25: list(800 * np.exp(rng.normal(0, 0.01, n * k))),
        0.03: list(971 * np.exp(rng.normal(0, 0.01, n * k))),
    }
    result = trials("PC-1/small/datarax", samples, k, CONFIG)
    assert result["a_a"]["trials"] == n and result["a_a"]["flagged"] == 0
    caught = result["injected 0.25"]
    assert caught["trials"] == n and caught["flagged"] == n
    assert caught["effective_slowdown"] == pytest.approx(0.25, abs=0.02)
    assert result["injected 0.03"]["flagged"] == 0  # significant, but under the 10 % effect floor
    text = render([result], CONFIG, "test machine", "python -m bench.calibrate")
    assert "| PC-1/small/datarax | injected 0.25 |" in text and "100% [63%, 100%]" in text


def test_the_injected_busy_wait_slows_each_call_by_at_least_its_fraction():
    def work():
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    start = time.perf_counter()
    fn = slowed(work, 0.5)
    for _ in range(20):
        fn()
    assert time.perf_counter() - start >= 20 * 0.002 * 1.5  # a busy-wait never ends early
    assert slowed(work, 0.0) is work


def test_a_bad_injected_fraction_names_the_variable(monkeypatch):
    monkeypatch.setenv(SLOWDOWN_ENV, "fast")
    with pytest.raises(ValueError, match=SLOWDOWN_ENV):
        injected_fraction()
    monkeypatch.setenv(SLOWDOWN_ENV, "")
    assert injected_fraction() == 0.0
