"""``Adapter.prepare`` runs once per cell before the clocks start; its wall time is recorded."""

from __future__ import annotations

import itertools
import time

from adapters._delivery import deliver
from adapters.base import Adapter
from bench.cli import main
from bench.profile import load_profile
from bench.runner import run_profile
from bench.store import load_records
from tests.bench.plugins import reference_batches

PREPARE_S = 0.6


class SlowPrepareAdapter(Adapter):
    """Conformant batches (the NumPy baseline's first); ``prepare`` sleeps (a stand-in for a format conversion)."""

    name = "slow-prepare"

    def __init__(self):
        self.prepared = 0

    def version(self) -> str:
        return "test"

    def prepare(self, job) -> None:
        time.sleep(PREPARE_S)
        self.prepared += 1

    def open(self, job):
        assert self.prepared == 1, "prepare() must run exactly once, before open()"
        return deliver(itertools.cycle(reference_batches(job)), job)


def test_prepare_is_untimed_and_recorded(tmp_path, capsys):
    profile = load_profile("ci_cpu").with_overrides(
        adapters=(f"{__name__}:SlowPrepareAdapter",), warmup_batches=1, batches=3, repetitions=2,
    )
    profile = profile.with_overrides(cells=tuple(c for c in profile.cells if c.scenario == "CV-1"))
    run_dir = run_profile(profile, tmp_path / "runs")
    (record,), problems = load_records(run_dir / "results.jsonl")
    assert not problems  # setup_s fits the record schema
    assert record["status"] == "ok", record["reason"]
    metrics = record["metrics"]
    assert PREPARE_S <= metrics["setup_s"] < PREPARE_S + 1.0
    assert metrics["ttfb_s"] < PREPARE_S / 2  # the conversion is not in the time to first batch
    capsys.readouterr()
    assert main(["show", str(run_dir)]) == 0
    assert "set-up, untimed" in capsys.readouterr().out
