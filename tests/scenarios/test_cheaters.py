"""Loaders that skip work are non-conformant: for every scenario variant the NumPy baseline
runs (``small*``), each of these fails the scenario's checks: skipping any one transform,
returning zeros of the right shape and dtype, not shuffling, drawing a record's random
parameters once for every epoch, and using the batch's statistics where the spec fixes them.

``BLIND`` is the ledger of what the checks cannot see yet, each with the reason; the test asserts
the ledger exactly, so a new blind spot fails it and a fixed one must leave the ledger.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.numpy_adapter import NumpyAdapter
from scenarios import SCENARIOS
from tests.scenarios.adapters_under_test import (
    AugmentThenCache, NoShuffle, Rewrite, WrongTransforms, batch_statistics, first_problem, job_for, sampling_verdict,
)

BLIND = {
    ("CV-1", "random_horizontal_flip"): "CV-1 has no record ids, and a flip keeps the ramps' symmetric sign mix",
    ("PC-1", "clip"): "PC-1's data never leaves the clip's range, so the clip changes no value",
    ("CV-3", "random_resized_crop"): "CV-3 checks the mixing, not the crop before it",
    ("CV-1", "one_draw"): "CV-1's records carry no ids (its order is judged by labels), so a record's draws are not compared",
    **{("XFMR-1", cheat): "XFMR-1's records carry neither ids nor labels, and its rows cannot be found by content"
       for cheat in ("no_shuffle", "one_draw")},
    ("IO-3", "no_shuffle"): "IO-3 draws records by dataset weight: there is no epoch to shuffle",
}

LOADER_CHEATS = ("no_shuffle", "one_draw", "batch_statistics")  # the cheats of ``unsampled``
CASES = [(sid, name) for sid, scenario in SCENARIOS.items() for name in scenario.variants
         if name.startswith("small") and NumpyAdapter().supports(scenario, scenario.variant(name)) is None]


def _verdict(adapter, job) -> str | None:
    try:
        return first_problem(adapter, job)
    except (KeyError, ValueError, IndexError) as error:  # the broken pipeline cannot even run
        return f"{type(error).__name__}: {error}"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("cheaters")


@pytest.fixture(scope="module")
def unseen(root):
    """Every (scenario, skipped transform or "zeros") that passed its scenario's check."""
    found = set()
    for sid, name in CASES:
        job = job_for(sid, name, root)
        assert first_problem(NumpyAdapter(), job) is None, (sid, name)  # the honest loader passes
        transforms = job.scenario.transforms(job.variant)
        for i, t in enumerate(transforms):
            if _verdict(WrongTransforms(lambda ts, i=i: ts[:i] + ts[i + 1:]), job) is None:
                found.add((sid, t.name))
        if _verdict(Rewrite(lambda b: {k: np.zeros_like(v) for k, v in b.items()}), job) is None:
            found.add((sid, "zeros"))
    return found


@pytest.fixture(scope="module")
def unsampled(root):
    """Every (scenario, cheat of ``LOADER_CHEATS``) that passed its scenario's checks."""
    found = set()
    for sid, name in CASES:
        job = job_for(sid, name, root)
        scenario, variant = job.scenario, job.variant
        assert sampling_verdict(NumpyAdapter(), job) is None, (sid, name)  # the honest loader passes
        ids = any(f.name == "index" for f in scenario.output_fields(variant))
        if not dict(variant.params).get("ordered") and sampling_verdict(NoShuffle(), job) is None:
            found.add((sid, "no_shuffle"))
        if "stochastic_per_element" in scenario.capabilities and (not ids or sampling_verdict(AugmentThenCache(), job) is None):
            found.add((sid, "one_draw"))  # without ids the cheat cannot even be written here
        edit = batch_statistics(job)
        if edit is not None and _verdict(Rewrite(edit), job) is None:
            found.add((sid, "batch_statistics"))
    return found


def test_every_scenario_variant_is_covered():
    assert len({sid for sid, _ in CASES}) >= 20 and ("CV-1", "small") in CASES


def test_skipped_work_and_zeros_are_caught_except_the_ledgered_blind_spots(unseen):
    blind = {key for key in BLIND if key[1] not in LOADER_CHEATS}
    assert unseen - blind == set(), f"newly unseen cheats: {sorted(unseen - blind)}"
    assert blind - unseen == set(), f"caught now, remove from BLIND: {sorted(blind - unseen)}"


def test_no_shuffle_one_draw_and_batch_statistics_are_caught_except_the_ledgered(unsampled):
    blind = {key for key in BLIND if key[1] in LOADER_CHEATS}
    assert unsampled - blind == set(), f"newly unseen cheats: {sorted(unsampled - blind)}"
    assert blind - unsampled == set(), f"caught now, remove from BLIND: {sorted(blind - unsampled)}"


def test_the_harness_rejects_a_loader_that_does_not_shuffle(tmp_path):
    """End to end: the cell's untimed sampling pass makes the cell non-conformant."""
    from bench.cli import main
    from bench.store import load_records

    cheat = "tests.scenarios.adapters_under_test:NoShuffle"
    code = main(["run", "--profile", "ci_cpu", "--scenarios", "TAB-1", "--adapters", "numpy",
                 "--adapter-module", cheat, "--batches", "4", "--min-window-s", "0", "--repetitions", "2",
                 "--warmup", "1", "--output", str(tmp_path)])
    assert code == 0
    (run_dir,) = tmp_path.iterdir()
    records = {r["adapter"]: r for r in load_records(run_dir / "results.jsonl")[0]}
    assert records["numpy"]["status"] == "ok" and records["numpy"]["metrics"]["sampling_check_batches"] == 256
    assert records[cheat]["status"] == "non-conformant"
    assert "epoch 1 delivers the records in stored order" in records[cheat]["reason"]
