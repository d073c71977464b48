"""Outcome scenarios end to end: the cell measures outcomes and the record carries them."""

from bench.profile import CellSelection, load_profile
from bench.runner import run_profile
from bench.store import load_records


def test_outcomes_reach_the_record_and_unsupported_backends_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("DATARAX_BENCH_CACHE", str(tmp_path / "cache"))
    profile = load_profile("ci_cpu").with_overrides(
        adapters=("numpy",), warmup_batches=1, batches=3, repetitions=1,
        cells=(CellSelection("PR-2", ("small",)), CellSelection("IO-1", ("small", "small-parquet"))),
    )
    records, problems = load_records(run_profile(profile, tmp_path / "runs") / "results.jsonl")
    assert not problems  # every record, outcomes included, fits the schema
    by_cell = {(r["scenario"], r["variant"]): r for r in records}
    pr2 = by_cell["PR-2", "small"]
    assert pr2["status"] == "ok", pr2["reason"]
    assert pr2["outcomes"] == {"batches_compared": 3, "same_seed_identical": True, "other_seed_differs": True}
    assert by_cell["IO-1", "small"]["status"] == "ok" and "outcomes" not in by_cell["IO-1", "small"]
    parquet = by_cell["IO-1", "small-parquet"]
    assert parquet["status"] == "unsupported" and "not 'parquet'" in parquet["reason"]
