import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from scenarios.reference.tabular import hash_to_vocabulary
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("TAB-2")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("tab2")


def test_generation_is_criteo_shaped_deterministic_and_seeded():
    data = SCENARIO.generate(SMALL, 0)
    assert data["dense"].shape == (65536, 13) and data["sparse"].shape == (65536, 26)
    assert data["dense"].min() == 0 and np.median(data["dense"]) < data["dense"].mean()  # heavy tail
    assert data["sparse"].tobytes() == SCENARIO.generate(SMALL, 0)["sparse"].tobytes()
    assert data["sparse"].tobytes() != SCENARIO.generate(SMALL, 1)["sparse"].tobytes()


def test_hash_is_murmur3_fmix32_and_spreads_ids():
    # fmix32(1) = 0x514E28B7 (murmur3's finaliser of the 32-bit value 1).
    assert int(hash_to_vocabulary(np.array([1], np.int64), 1 << 31, 0)[0]) == 0x514E28B7 % (1 << 31)
    ids = hash_to_vocabulary(np.arange(100000), 1000, 7)
    counts = np.bincount(ids, minlength=1000)
    assert counts.min() > 50 and counts.max() < 160  # near-uniform buckets


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant(root, adapter):
    assert first_problem(load_adapter(adapter), job_for("TAB-2", "small", root)) is None


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(replace_param("hash_to_vocabulary", "salt", 1)), "field 'sparse' differs"),
        (WrongTransforms(lambda ts: ts[1:]), "field 'dense' differs"),  # no log1p
        (Rewrite(lambda b: {**b, "sparse": b["sparse"] + 2**20}), "not hashed"),
        (Rewrite(lambda b: {k: v[:-1] for k, v in b.items()}), "shape"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("TAB-2", "small", root))
