import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from scenarios.reference.mixing import one_hot
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("CV-3")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("cv3")


def test_flat_colour_images_deterministic_and_seeded():
    small = SCENARIO.variant("small")
    data = SCENARIO.generate(small, 0)
    assert (data["image"] == data["image"][:, :1, :1]).all()  # one colour per image
    assert data["image"].tobytes() == SCENARIO.generate(small, 0)["image"].tobytes()
    assert data["label"].tobytes() != SCENARIO.generate(small, 1)["label"].tobytes()
    assert [t.name for t in SCENARIO.transforms(SCENARIO.variant("small-cutmix"))][-1] == "cutmix"


@pytest.mark.parametrize("adapter, variant", [("datarax", "small"), ("numpy", "small"), ("numpy", "small-cutmix")])
def test_mixed_batches_conform(root, adapter, variant):
    assert first_problem(load_adapter(adapter), job_for("CV-3", variant, root)) is None


def test_datarax_mixes_labels_with_the_images_lambda(root):
    loader, job = load_adapter("datarax"), job_for("CV-3", "small", root)
    batch = {k: np.asarray(v) for k, v in next(iter(loader.open(job))).items()}
    loader.close()
    np.testing.assert_allclose(batch["label"].sum(axis=1), 1, atol=1e-5)
    assert ((batch["label"] > 0).sum(axis=1) == 2).mean() > 0.5  # most rows carry two classes


def _unmixed_labels(job):
    labels = job.arrays()["label"]
    return lambda b: {**b, "label": one_hot(labels[b["index"]], 10)}


@pytest.mark.parametrize("variant", ["small", "small-cutmix"])
def test_labels_not_mixed_are_caught(root, variant):
    job = job_for("CV-3", variant, root)
    assert "labels must be mixed" in first_problem(Rewrite(_unmixed_labels(job)), job)


@pytest.mark.parametrize(
    "adapter, message",
    [
        (Rewrite(lambda b: {**b, "image": np.roll(b["image"], 1, axis=0)}), "mix of the row's and the previous"),
        (Rewrite(lambda b: {**b, "label": b["label"] * 2}), "rows sum to 2"),
        (WrongTransforms(lambda ts: ts[:-1]), "shape"),
        (WrongTransforms(replace_param("mixup", "alpha", 50.0)), "λ spreads by"),
    ],
)
def test_wrong_mixing_is_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("CV-3", "small", root))
