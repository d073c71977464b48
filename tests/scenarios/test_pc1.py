import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from scenarios.reference import apply_transforms
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("PC-1")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("pc1")


def test_depth_is_the_chain_length_and_cycles_cheap_ops():
    depths = {v: len(SCENARIO.transforms(SCENARIO.variant(v))) for v in SCENARIO.variants}
    assert depths == {"small": 10, "depth1": 1, "depth50": 50, "medium": 25, "large": 50}
    names = [t.name for t in SCENARIO.transforms(SCENARIO.variant("depth50"))]
    assert names[:5] == ["multiply", "add", "clip", "multiply", "multiply"]
    assert len(set(SCENARIO.spec_hash(SCENARIO.variant(v)) for v in SCENARIO.variants)) == 5


def test_generation_is_deterministic_seeded_and_fast():
    small = SCENARIO.variant("small")
    a, b, c = (SCENARIO.generate(small, s) for s in (0, 0, 1))
    assert a["x"].tobytes() == b["x"].tobytes() and a["x"].tobytes() != c["x"].tobytes()
    np.testing.assert_array_equal(a["index"], np.arange(small.num_records))


def test_reference_chain_matches_a_hand_computation():
    x = np.array([[-10.0, 0.0, 1.0, 7.0]], np.float32)
    out = apply_transforms({"x": x}, SCENARIO.transforms(SCENARIO.variant("small")), None)["x"]
    expected = x.astype(np.float64)
    for _ in range(2):  # depth 10 = two full cycles and two more ops
        expected = np.clip(expected * 1.5 - 0.25, -8, 8) * 0.75
    expected = expected * 1.5 - 0.25
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("variant", ["depth1", "small", "depth50"])
@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant(root, adapter, variant):
    assert first_problem(load_adapter(adapter), job_for("PC-1", variant, root)) is None


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(replace_param("multiply", "factor", 1.25)), "differs from the reference"),
        (WrongTransforms(lambda ts: ts[:-1]), "differs from the reference"),  # one stage short
        (Rewrite(lambda b: {**b, "x": b["x"][:-1], "index": b["index"][:-1]}), "shape"),
        (Rewrite(lambda b: {**b, "index": b["index"][::-1].copy()}), "differs from the reference"),
        (Rewrite(lambda b: {**b, "index": np.zeros_like(b["index"])}), "repeats a record"),
        (Rewrite(lambda b: {**b, "x": b["x"] * 4}), "leaves [-12, 12]"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("PC-1", "small", root))
