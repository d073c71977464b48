"""PC-2 (two views, Parallel + Merge), PC-3 (Rebatch) and PC-4 (per-record probabilistic ops)."""

import itertools

import numpy as np
import pytest

from adapters import load_adapter
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("graph")


@pytest.mark.parametrize("sid", ["PC-2", "PC-3", "PC-4"])
@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_small_variants_conform(root, sid, adapter):
    assert first_problem(load_adapter(adapter), job_for(sid, "small", root), batches=3) is None


def test_datarax_rebatches_128_into_96_across_boundaries_in_stored_order(root):
    loader, job = load_adapter("datarax"), job_for("PC-3", "small", root)
    batches = [np.asarray(b["index"]) for b in itertools.islice(loader.open(job), 4)]
    loader.close()
    assert job.variant.param("source_batch") == 128 and [len(b) for b in batches] == [96] * 4
    np.testing.assert_array_equal(np.concatenate(batches), np.arange(4 * 96))


def test_datarax_views_are_a_views_axis_of_two_different_crops(root):
    loader, job = load_adapter("datarax"), job_for("PC-2", "small", root)
    image = np.asarray(next(iter(loader.open(job)))["image"])
    loader.close()
    assert image.shape == (128, 2, 32, 32, 3)
    assert not np.allclose(image[:, 0], image[:, 1])


def _second_view_from_other_records(b):
    image = b["image"].copy()
    image[:, 1] = np.roll(image[:, 1], 1, axis=0)
    return {**b, "image": image}


@pytest.mark.parametrize(
    "adapter, message",
    [
        (Rewrite(lambda b: {**b, "image": np.repeat(b["image"][:, :1], 2, axis=1)}), "two views are equal"),
        (Rewrite(_second_view_from_other_records), "not a crop of that record"),
        (WrongTransforms(lambda ts: tuple(t for t in ts if t.name != "random_horizontal_flip")), "mirrored"),
        (WrongTransforms(replace_param("normalize", "scale", 1.0)), "outside its stored image's range"),
    ],
)
def test_pc2_wrong_views_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("PC-2", "small", root))


@pytest.mark.parametrize(
    "adapter, message",
    [
        (Rewrite(lambda b: {k: v[::-1] for k, v in b.items()}), "consecutive ids"),
        (Rewrite(lambda b: {k: np.concatenate([v[:48], v[49:], v[48:49]]) for k, v in b.items()}), "consecutive ids"),
        (Rewrite(lambda b: {**b, "x": b["x"] + 1e-3}), "field 'x' differs"),
    ],
)
def test_pc3_broken_streams_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("PC-3", "small", root))


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(replace_param("random_apply", "p", 0.9)), "expected 0.5 ±"),
        (WrongTransforms(lambda ts: ts[:1]), "shifted by 10 in 0.00"),
        (WrongTransforms(replace_param("random_apply", "op_params", (("factor", -2.0),))), "field 'x' differs"),
        (Rewrite(lambda b: {**b, "x": np.abs(b["x"])}), "expected 0.5 ±"),
    ],
)
def test_pc4_wrong_rates_and_ops_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("PC-4", "small", root))
