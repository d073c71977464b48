import time

import numpy as np
import pytest

import scenarios.reference.image as reference_image
from adapters import load_adapter
from adapters.numpy_adapter import NumpyAdapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("CV-4")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("cv4")


def test_one_fixed_shape_field_per_scale_and_seeded_fast_generation():
    shapes = {f.name: f.shape for f in SCENARIO.output_fields(SMALL)}
    assert shapes == {"image_32": (28, 28, 3), "image_48": (40, 40, 3), "image_64": (56, 56, 3), "label": (), "index": ()}
    start = time.perf_counter()
    data = SCENARIO.generate(SMALL, 0)
    assert time.perf_counter() - start < 10
    assert data["image"].tobytes() == SCENARIO.generate(SMALL, 0)["image"].tobytes()
    assert data["image"].tobytes() != SCENARIO.generate(SMALL, 1)["image"].tobytes()


def test_locate_window_finds_each_crop():
    images = np.random.default_rng(0).random((3, 12, 10, 3)).astype(np.float32)
    origins = np.array([[0, 0], [4, 3], [6, 5]])
    crops = np.stack([im[t : t + 6, l : l + 5] for im, (t, l) in zip(images, origins)])
    np.testing.assert_array_equal(reference_image.locate_window(images, crops), origins)


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant(root, adapter):
    assert first_problem(load_adapter(adapter), job_for("CV-4", "small", root)) is None


def test_the_datarax_crops_of_the_scales_are_drawn_independently(root):
    loader, job = load_adapter("datarax"), job_for("CV-4", "small", root)
    try:
        batch = {k: np.asarray(v) for k, v in next(iter(loader.open(job))).items()}
    finally:
        loader.close()
    full = {s: reference_image.resize(np.asarray(job.arrays()["image"][batch["index"]]), (s, s)) for s in (48, 64)}
    scaled = {s: (batch[f"image_{s}"] * np.asarray(reference_image.IMAGENET_STD) + reference_image.IMAGENET_MEAN) * 255
              for s in (48, 64)}
    tops = {s: reference_image.locate_window(full[s], scaled[s])[:, 0] for s in (48, 64)}
    assert not np.array_equal(tops[48], tops[64])  # both spans are 9: one shared stream would equal


def test_a_fixed_crop_is_caught(root, monkeypatch):
    monkeypatch.setattr(reference_image, "random_crop", lambda images, rng, size: images[:, : size[0], : size[1]])
    assert "RandomCrop must place windows at random" in first_problem(NumpyAdapter(), job_for("CV-4", "small", root))


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(replace_param("normalize", "scale", 1.0)), "field 'image_32' differs"),
        (WrongTransforms(lambda ts: tuple(t for t in ts if not (t.name == "random_crop" and t.field == "image_48"))),
         "shape"),
        (Rewrite(lambda b: {**b, "image_64": b["image_64"][:, :, ::-1]}), "field 'image_64' differs"),
        (Rewrite(lambda b: {**b, "label": np.roll(b["label"], 1)}), "field 'label' differs"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("CV-4", "small", root))
