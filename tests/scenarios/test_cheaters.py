"""Loaders that skip work are non-conformant: for every scenario variant the NumPy baseline
runs (``small*``), skipping any one transform, or returning zeros of the right shape and dtype,
fails the scenario's check.

``BLIND`` is the ledger of what the checks cannot see yet, each with the reason; the test asserts
the ledger exactly, so a new blind spot fails it and a fixed one must leave the ledger.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.numpy_adapter import NumpyAdapter
from scenarios import SCENARIOS
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for

BLIND = {
    ("CV-1", "random_horizontal_flip"): "CV-1 has no record ids, and a flip keeps the ramps' symmetric sign mix",
    ("PC-1", "clip"): "PC-1's data never leaves the clip's range, so the clip changes no value",
    ("CV-3", "random_resized_crop"): "CV-3 checks the mixing, not the crop before it",
}

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


def test_every_scenario_variant_is_covered():
    assert len({sid for sid, _ in CASES}) >= 20 and ("CV-1", "small") in CASES


def test_skipped_work_and_zeros_are_caught_except_the_ledgered_blind_spots(unseen):
    assert unseen - set(BLIND) == set(), f"newly unseen cheats: {sorted(unseen - set(BLIND))}"
    assert set(BLIND) - unseen == set(), f"caught now, remove from BLIND: {sorted(set(BLIND) - unseen)}"
