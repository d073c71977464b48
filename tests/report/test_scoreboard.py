import numpy as np
import pytest

from bench.report.comparison import compare_runs
from bench.report.scoreboard import median_ci, not_ok, ratio_ci, scoreboard
from tests.report.records import failed_record, ok_record


def test_scoreboard_ranks_each_group_best_first_with_ratios_to_the_best():
    records = [
        ok_record("CV-1", "small", "slow", 1000, seed=1),
        ok_record("CV-1", "small", "fast", 4000, seed=2),
        ok_record("CV-1", "medium", "slow", 500, seed=3),
        failed_record("CV-1", "small", "broken", "failed", "boom"),
    ]
    scores = scoreboard(records)
    assert [(s.variant, s.adapter) for s in scores] == [("small", "fast"), ("small", "slow"), ("medium", "slow")]
    fast, slow = scores[0], scores[1]
    assert fast.is_best and fast.relative == 1.0 and fast.relative_ci is None
    assert not slow.is_best
    assert slow.relative == pytest.approx(slow.elements_per_s / fast.elements_per_s)
    assert 0.2 < slow.relative < 0.3
    assert slow.relative_ci[0] <= slow.relative <= slow.relative_ci[1]
    assert slow.ci[0] <= slow.elements_per_s <= slow.ci[1]
    assert scores[2].is_best  # alone in its group


def test_intervals_widen_with_noise_and_are_absent_for_one_sample():
    quiet = np.array([100.0, 101, 99, 100.5, 99.5])
    noisy = np.array([60.0, 140, 90, 120, 80])
    q, n = median_ci(quiet), median_ci(noisy)
    assert q[1] - q[0] < n[1] - n[0]
    assert median_ci(np.array([5.0])) is None
    assert ratio_ci(quiet, np.array([1.0])) is None
    assert median_ci(quiet) == median_ci(quiet)  # seeded: the same report twice


def test_single_repetition_cell_is_scored_without_an_interval():
    record = ok_record("TAB-1", "small", "numpy", 10.0)
    record["metrics"]["elements_per_s_by_repetition"] = []
    (score,) = scoreboard([record])
    assert score.elements_per_s == record["metrics"]["elements_per_s"] and score.ci is None


def test_failures_keep_status_and_reason_and_a_resumed_cell_counts_once():
    records = [
        failed_record("CV-1", "small", "dali", "unsupported", "needs a GPU"),
        failed_record("CV-1", "small", "grain", "timeout", "killed after 300 s"),
        failed_record("CV-1", "small", "grain", "failed", "first try"),
        ok_record("CV-1", "small", "grain", 10),  # the resumed run's later record wins
    ]
    assert [(r["adapter"], r["status"], r["reason"]) for r in not_ok(records)] == [("dali", "unsupported", "needs a GPU")]


def test_comparison_divides_medians_and_refuses_incomparable_cells():
    base = [ok_record("CV-1", "small", "datarax", 1000, seed=1), ok_record("CV-1", "small", "numpy", 1000, seed=2),
            ok_record("CV-1", "small", "grain", 1000, seed=3)]
    now = [ok_record("CV-1", "small", "datarax", 1500, seed=4), ok_record("CV-1", "small", "numpy", 1000, seed=5),
           ok_record("CV-1", "small", "grain", 1000, seed=6, spec_hash="changed"),
           ok_record("NLP-1", "small", "datarax", 10)]
    rows = {r.adapter + "/" + r.scenario: r for r in compare_runs(now, base)}
    faster = rows["datarax/CV-1"]
    assert faster.ratio == pytest.approx(faster.current / faster.baseline) and 1.3 < faster.ratio < 1.7
    assert faster.ci[0] <= faster.ratio <= faster.ci[1]
    assert rows["grain/CV-1"].ratio is None and "spec" in rows["grain/CV-1"].note
    assert rows["datarax/NLP-1"].ratio is None and "absent from baseline" in rows["datarax/NLP-1"].note


def test_comparison_refuses_different_machines():
    base = [ok_record("CV-1", "small", "numpy", 1000, machine_fingerprint="aaa")]
    now = [ok_record("CV-1", "small", "numpy", 1000, machine_fingerprint="bbb")]
    (row,) = compare_runs(now, base)
    assert row.ratio is None and "different machine" in row.note
