import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import Rewrite, first_problem, job_for

SCENARIO = get_scenario("IO-3")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("io3")


def test_two_distinguishable_datasets_deterministic_and_seeded():
    data = SCENARIO.generate(SMALL, 0)
    assert len(data["a_tokens"]) == 16384 and len(data["b_tokens"]) == 8192
    assert data["a_tokens"].max() < 1000 <= data["b_tokens"].min()
    assert set(data["a_source"]) == {0} and set(data["b_source"]) == {1}
    assert data["b_tokens"].tobytes() == SCENARIO.generate(SMALL, 0)["b_tokens"].tobytes()
    assert data["b_tokens"].tobytes() != SCENARIO.generate(SMALL, 1)["b_tokens"].tobytes()


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_mix_with_the_weights_and_conform(root, adapter):
    loader, job = load_adapter(adapter), job_for("IO-3", "small", root)
    assert first_problem(loader, job, batches=4) is None
    share = np.mean([np.asarray(b["source"]).mean() for _, b in zip(range(8), loader.open(job))])
    loader.close()
    assert share == pytest.approx(0.3, abs=0.05)


def _only_a(batch):
    keep = np.flatnonzero(batch["source"] == 0)
    take = np.resize(keep, len(batch["source"]))
    return {k: v[take] for k, v in batch.items()}


@pytest.mark.parametrize(
    "edit, message",
    [
        (_only_a, "0.00 of the batch from b"),
        (lambda b: {**b, "source": 1 - b["source"]}, "from b, expected 0.30"),
        (lambda b: {**b, "index": (b["index"] + 1) % 8192}, "tokens"),
        (lambda b: {**b, "source": b["source"] * 2}, "not 0 (a) or 1 (b)"),
    ],
)
def test_wrong_mixes_are_caught(root, edit, message):
    assert message in first_problem(Rewrite(edit), job_for("IO-3", "small", root))
