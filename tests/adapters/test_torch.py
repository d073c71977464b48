"""The PyTorch DataLoader adapter does every scenario it supports: each small variant's batches
arrive as jax.Arrays and pass the scenario's checks against the stored inputs (and its sampling
check where it declares one), PR-1 resumes bit for bit from a StatefulDataLoader state, DIST
batches carry the scenario's mesh, and the scenarios it does not run say why."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torchdata")

from adapters import load_adapter  # noqa: E402
from bench.measure import to_host  # noqa: E402
from scenarios import SCENARIOS, get_scenario  # noqa: E402
from tests.adapters.peer_cases import conformant, job_for, resumes, sharded_in_child, take  # noqa: E402

NAMES = ("torch", "torch-batched")
CELLS = [
    ("CV-1", "small"), ("NLP-1", "small"), ("TAB-1", "small"), ("PC-1", "small"), ("IO-1", "small"),
    ("IO-1", "small-memory"), ("IO-1", "small-array_record"), ("IO-1", "small-parquet"), ("PR-2", "small"),
    ("TAB-2", "small"), ("NNX-1", "small"), ("NNX-1", "small-function"), ("MM-1", "small"), ("CV-2", "small"),
    ("IO-3", "small"), ("XFMR-1", "small"), ("NLP-2", "small"), ("IO-2", "small-streaming"), ("IO-2", "small-eager"),
    ("CV-4", "small"), ("MM-2", "small"), ("MM-2", "small-logmel"), ("CV-3", "small"), ("CV-3", "small-cutmix"),
    ("PC-2", "small"), ("PC-3", "small"), ("PC-4", "small"), ("IO-4", "small"), ("IO-4", "small-disk"),
    ("DIST-1", "small-1dev"), ("PR-1", "small"),
]
SHARED = {"IO-3", "NLP-2", "IO-4"}  # scenarios both configurations run through the same pipeline


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("torch")


@pytest.fixture(scope="module")
def opened():
    adapters = {name: load_adapter(name) for name in NAMES}
    yield adapters
    for adapter in adapters.values():
        adapter.close()


@pytest.fixture(params=NAMES)
def adapter(request, opened):
    return opened[request.param]


@pytest.mark.parametrize("name, scenario_id, variant", [
    (name, *cell) for name in NAMES for cell in CELLS if name == "torch-batched" or cell[0] not in SHARED])
def test_supported_cell_is_conformant(opened, root, name, scenario_id, variant):
    conformant(opened[name], job_for(scenario_id, variant, root))


def test_supports_at_least_22_of_the_single_process_scenarios(adapter):
    supported = [sid for sid, s in SCENARIOS.items() if sid != "DIST-3"
                 and any(adapter.supports(s, s.variant(v)) is None for v in s.variants)]
    assert len(supported) >= 22, supported


@pytest.mark.parametrize("scenario_id, words", [("PC-5", "gradient"), ("DIST-3", "process")])
def test_unsupported_scenarios_say_why_the_library_cannot(adapter, scenario_id, words):
    scenario = get_scenario(scenario_id)
    reason = adapter.supports(scenario, scenario.variant("small"))
    assert reason and words in reason and "does not implement" not in reason


def test_pr1_resumes_mid_epoch_bit_for_bit(adapter, root):
    outcomes = resumes(adapter, job_for("PR-1", "small", root))
    assert outcomes["saved_after_batches"] == 10


def test_dist2_batches_carry_the_scenario_mesh(root):
    outcomes = sharded_in_child("torch-batched", "DIST-2", "small", root)
    assert outcomes["mesh"] == "data=4,model=2" and outcomes["per_device_shard_shape"] == "64x256"


@pytest.mark.parametrize("scenario_id, variant", [("CV-1", "small"), ("CV-3", "small-cutmix"), ("IO-3", "small")])
def test_fresh_iterators_replay_the_seeded_stream(adapter, root, scenario_id, variant):
    job = job_for(scenario_id, variant, root)
    first, again = take(adapter, job, 2), take(adapter, job, 2)
    for a, b in zip(first, again):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_both_configurations_draw_the_same_parameters_whatever_the_worker_count(root):
    """A record's random parameters are keyed by (seed, epoch, id): per-record and batched
    fetching, with 1 or 2 workers, give the same batches."""
    import dataclasses

    job = job_for("XFMR-1", "small", root)
    runs = []
    for name in NAMES:
        adapter = load_adapter(name)
        try:
            runs += [take(adapter, job, 2), take(adapter, dataclasses.replace(job, cpu_budget=1), 2)]
        finally:
            adapter.close()
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_allclose(a["image"], b["image"], atol=1e-5)


def test_grid_sample_crop_matches_the_reference_resample():
    """One grid_sample over the batch resamples each box as the NumPy reference does."""
    import torch

    from adapters.torch_ops import resized_crops
    from scenarios.reference import image as ref_image

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 20, 24, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 20, 24], [3, 5, 9, 7], [11, 16, 9, 8]], np.float64)
    got = resized_crops(torch.from_numpy(images), boxes, (8, 10)).numpy()
    want = ref_image.resize_regions(images, boxes.astype(np.int64), (8, 10))
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_host_delivery_yields_numpy(adapter, root):
    job = job_for("NLP-2", "small", root, delivery="host")
    iterator = adapter.open(job)
    try:
        batch = next(iterator)
    finally:
        iterator.close()
    assert all(isinstance(v, np.ndarray) for v in batch.values())
    assert job.scenario.check_batch(job.variant, to_host(batch), job.arrays()) is None


def test_vectorized_crop_boxes_match_randomresizedcrop_sampling_record_by_record():
    """The batched box draw is RandomResizedCrop's per-record sampling (tries, then the centre
    fallback), record for record, on uniforms that hit both branches."""
    from adapters._element_ops import crop_box, record_uniforms
    from adapters.torch_ops import crop_boxes

    u = record_uniforms(0, 0, np.arange(512), 22)
    u[:8, :20] = 0.999  # areas and aspects that never fit a 10×40 image: the centre crop
    for scale, ratio, (height, width) in [((0.08, 1.0), (3 / 4, 4 / 3), (32, 32)), ((0.9, 1.0), (0.2, 0.3), (10, 40))]:
        got = crop_boxes(u, height, width, scale, ratio)
        want = np.array([crop_box(row.tolist(), height, width, scale, ratio) for row in u])
        np.testing.assert_array_equal(got, want)
