import numpy as np
import pytest

from adapters import load_adapter
from scenarios import Transform, get_scenario
from scenarios.reference import apply_transforms
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("MM-1")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("mm1")


def test_generation_has_short_and_truncated_captions_and_is_seeded():
    data = SCENARIO.generate(SMALL, 0)
    lengths = data["caption_length"]
    assert lengths.min() >= 4 and lengths.max() <= 96 and (lengths > 64).any() and np.median(lengths) < 40
    assert data["caption"].tobytes() == SCENARIO.generate(SMALL, 0)["caption"].tobytes()
    assert data["caption"].tobytes() != SCENARIO.generate(SMALL, 1)["caption"].tobytes()


def test_reference_pads_past_the_length_truncates_and_masks():
    batch = {"caption": np.array([[5, 6, 7, 8, 9], [1, 2, 3, 4, 5]], np.int32), "caption_length": np.array([2, 5], np.int32)}
    transforms = [t for t in SCENARIO.transforms(SMALL) if t.field == "caption"]
    transforms = [Transform.of(t.name, **{**dict(t.params), **({"length": 4} if t.name == "pad_to_length" else {})})
                  for t in transforms]
    out = apply_transforms(batch, transforms, None)
    np.testing.assert_array_equal(out["caption"], [[5, 6, 0, 0], [1, 2, 3, 4]])
    np.testing.assert_array_equal(out["caption_mask"], [[True, True, False, False], [True, True, True, True]])


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant(root, adapter):
    assert first_problem(load_adapter(adapter), job_for("MM-1", "small", root)) is None


def _drop_length_field(transforms):
    return tuple(Transform.of(t.name, **{k: v for k, v in t.params if k != "length_field"}) for t in transforms)


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(_drop_length_field), "field 'caption' differs"),  # stale tokens kept
        (WrongTransforms(replace_param("normalize", "mean", (0.5, 0.5, 0.5))), "field 'image' differs"),
        (Rewrite(lambda b: {**b, "caption_mask": np.ones_like(b["caption_mask"])}), "marks 0 (padding) as a real token"),
        (Rewrite(lambda b: {**b, "caption": np.where(b["caption_mask"], b["caption"], 7)}), "where 'caption_mask' is False"),
        (Rewrite(lambda b: {**b, "caption": np.roll(b["caption"], 1, axis=1)}), "caption"),
        (Rewrite(lambda b: {**b, "caption_mask": b["caption_mask"].astype(np.int32)}), "dtype"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("MM-1", "small", root))
