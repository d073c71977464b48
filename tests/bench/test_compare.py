"""compare: statistics on synthetic samples, and verdicts on real runs of the sleep adapters."""

import dataclasses
import json

import numpy as np
import pytest

from bench.cli import main
from bench.compare import (
    FAILED, IMPROVEMENT, INCOMPARABLE, NO_CHANGE, REGRESSION, UNRELIABLE, ResultsError,
    bootstrap_ratio_ci, compare, judge, load_results, mann_whitney_p, min_attainable_p,
    min_repetitions, repetition_throughput,
)
from bench.profile import GateConfig
from tests.bench.gate_plugins import REFERENCE, TARGET, sleep_run

KEY = ("CV-1", "small", "x")
CONFIG = GateConfig()


def _samples(median, n, spread=0.02, seed=0):
    return median * (1 + spread * np.random.default_rng(seed).standard_normal(n))


def test_exact_test_floor_decides_how_many_repetitions_the_gate_needs():
    assert min_attainable_p(5, 5) == pytest.approx(2 / 252)
    assert min_attainable_p(6, 6) > 0.002 > min_attainable_p(7, 7)
    assert min_repetitions(0.002) == 7 and min_repetitions(0.01) == 5
    a, b = np.arange(1.0, 8.0), np.arange(11.0, 18.0)
    assert mann_whitney_p(a, b) == pytest.approx(min_attainable_p(7, 7))


def test_verdicts_need_both_significance_and_the_effect_floor():
    base = _samples(1000, 10)
    assert judge(KEY, base, _samples(1000, 10, seed=1), CONFIG).verdict == NO_CHANGE
    slower = judge(KEY, base, _samples(800, 10, seed=1), CONFIG)
    assert slower.verdict == REGRESSION and slower.p < 0.002
    assert slower.time_change == pytest.approx(0.25, abs=0.03)
    assert judge(KEY, base, _samples(1250, 10, seed=1), CONFIG).verdict == IMPROVEMENT
    # 3 % slower with no overlap at all: significant, but under the 10 % floor.
    tiny = judge(KEY, _samples(1000, 10, 0.002), _samples(970, 10, 0.002, seed=1), CONFIG)
    assert tiny.p < 0.002 and tiny.verdict == NO_CHANGE


def test_too_few_repetitions_is_unreliable_and_says_how_many_are_needed():
    c = judge(KEY, _samples(1000, 5), _samples(500, 5, seed=1), CONFIG)
    assert c.verdict == UNRELIABLE and ">= 7 replicates" in c.reason
    assert c.ratio == pytest.approx(0.5, rel=0.05)  # the numbers are still shown


def test_bootstrap_ci_brackets_the_ratio_and_is_reproducible():
    a, b = _samples(1000, 10, 0.05), _samples(900, 10, 0.05, seed=1)
    low, high = bootstrap_ratio_ci(a, b)
    assert low < np.median(b) / np.median(a) < high and high - low < 0.2
    assert bootstrap_ratio_ci(a, b) == (low, high)


def test_a_real_slowdown_is_a_regression_in_both_modes():
    base, slow = load_results(sleep_run(1.0)), load_results(sleep_run(1.25))
    for mode in ("absolute", "relative"):
        config = GateConfig(mode=mode, reference=REFERENCE, targets=(TARGET,))
        (c,) = [c for c in compare(base, slow, config) if c.key[2] == TARGET]
        assert c.verdict == REGRESSION, c
        assert 0.15 < c.time_change < 0.35  # 25 % injected; sleep overshoot under load blurs it
    relative = compare(base, slow, GateConfig(reference=REFERENCE, targets=(TARGET,)))
    assert [c.key[2] for c in relative] == [TARGET]  # the reference is not compared with itself


def _edited(run_set, adapter, **changes):
    records = dict(run_set.records)
    key = next(k for k in records if k[2] == adapter)
    records[key] = {**records[key], **changes}
    return dataclasses.replace(run_set, records=records)


def test_cells_that_must_not_be_compared_are_incomparable_or_failed():
    base = load_results(sleep_run(1.0))
    config = GateConfig(mode="absolute", reference=REFERENCE, targets=(TARGET,))

    def verdict(b, cfg=config):
        return {c.key[2]: c for c in compare(base, b, cfg)}[TARGET]

    other_spec = verdict(_edited(base, TARGET, spec_hash="0" * 16))
    assert other_spec.verdict == INCOMPARABLE and "spec hash" in other_spec.reason
    moved = _edited(base, TARGET, machine_fingerprint="elsewhere")
    assert "machine fingerprint" in verdict(moved).reason
    moved = _edited(moved, REFERENCE, machine_fingerprint="elsewhere")
    assert verdict(moved, dataclasses.replace(config, mode="relative")).verdict == NO_CHANGE
    crashed = verdict(_edited(base, TARGET, status="failed", reason="boom", metrics=None, samples=None))
    assert crashed.verdict == FAILED and "boom" in crashed.reason
    no_ref = _edited(base, REFERENCE, status="timeout", reason="slow", metrics=None, samples=None)
    assert "reference" in verdict(no_ref, dataclasses.replace(config, mode="relative")).reason
    longer = {**base.records[next(k for k in base.records if k[2] == TARGET)]["metrics"],
              "window_min_batches": 5, "window_min_s": 0.1}
    assert "timed windows differ" in verdict(_edited(base, TARGET, metrics=longer)).reason
    gone = dataclasses.replace(base, records={k: v for k, v in base.records.items() if k[2] != TARGET})
    assert verdict(gone).reason == "not in B"


def test_samples_fall_back_to_raw_latencies():
    record = next(iter(load_results(sleep_run(1.0)).records.values()))
    from_metric = repetition_throughput(record)
    del record["metrics"]["elements_per_s_by_repetition"]
    np.testing.assert_allclose(repetition_throughput(record), from_metric, rtol=1e-9)


def test_compare_command_prints_and_writes_markdown(tmp_path, capsys):
    md = tmp_path / "cmp.md"
    code = main(["compare", str(sleep_run(1.0)), str(sleep_run(1.25)), "--markdown", str(md)])
    assert code == 0
    out = capsys.readouterr().out
    assert "regression" in out and "B/A (95% CI)" in out
    text = md.read_text()
    assert "**regression" in text and "SlowableSleep" in text


def test_bad_paths_are_usage_errors(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nope"), str(sleep_run(1.0))]) == 2
    assert "nope" in capsys.readouterr().out
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ResultsError, match="no result records"):
        load_results(tmp_path / "empty.jsonl")
    assert json.loads((sleep_run(1.0) / "run.json").read_text())["profile"]["gate"]["targets"] == [TARGET]
