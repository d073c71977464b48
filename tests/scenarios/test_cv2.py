import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from scenarios.reference import volume as ref
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for

SCENARIO = get_scenario("CV-2")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("cv2")


def test_generation_is_deterministic_seeded_and_ct_like():
    data = SCENARIO.generate(SMALL, 0)
    assert data["volume"].shape == (1024, 32, 32, 32) and data["volume"].dtype == np.float32
    assert data["volume"].tobytes() == SCENARIO.generate(SMALL, 0)["volume"].tobytes()
    assert data["volume"][:4].tobytes() != SCENARIO.generate(SMALL, 1)["volume"][:4].tobytes()
    assert -1200 < data["volume"].min() and data["volume"].max() < 200  # air and tissue, 20 HU noise


def test_locate_crops_finds_random_windows_even_after_zscore():
    volumes = SCENARIO.generate(SMALL, 0)["volume"][:8]
    offsets = ref.crop_offsets(np.random.default_rng(3), 8, (32, 32, 32), (24, 24, 24))
    crops = ref.zscore(ref.crop(volumes, offsets, (24, 24, 24)), 1e-6)
    np.testing.assert_array_equal(ref.locate_crops(volumes, crops), offsets)


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant(root, adapter):
    assert first_problem(load_adapter(adapter), job_for("CV-2", "small", root)) is None


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(lambda ts: ts[:1]), "not z-scored"),
        (Rewrite(lambda b: {**b, "volume": b["volume"].transpose(0, 2, 1, 3).copy()}), "differs from the reference"),
        (Rewrite(lambda b: {**b, "volume": b["volume"] * 1.01}), "not z-scored"),
        (Rewrite(lambda b: {k: v[:-1] for k, v in b.items()}), "shape"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("CV-2", "small", root))
