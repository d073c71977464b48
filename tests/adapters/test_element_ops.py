"""The peers' shared helpers: per-record NumPy ops against the references, keyed randomness,
and the once-per-variant format conversion."""

from __future__ import annotations

import numpy as np
import pytest

from adapters._element_ops import CROP_UNIFORMS, RecordTransform, crop_box, record_uniforms, resized_crop
from adapters._records import NpyRecords, converted, epoch_order
from scenarios import get_scenario
from scenarios.reference import apply_transforms
from scenarios.reference import image as ref_image

SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)


def test_resized_crop_is_the_box_resized_bilinearly():
    """OpenCV's resize of the cut-out box: the reference's bilinear resample of that crop as a
    whole image, to float32 rounding (OpenCV sums in another order)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    boxes = [(0, 0, 37, 29), (36, 28, 1, 1), (5, 3, 4, 20), *(crop_box(rng.random(22), 37, 29, SCALE, RATIO) for _ in range(50))]
    for top, left, h, w in boxes:
        crop = img[top:top + h, left:left + w]
        for size in [(32, 32), (7, 50), (1, 1)]:
            got = resized_crop(img, (top, left, h, w), size)
            want = ref_image.resize_regions(crop[None], np.array([(0, 0, h, w)]), size)[0]
            assert got.dtype == np.float32 and got.shape == (*size, 3)
            np.testing.assert_allclose(got, want, atol=1e-3)
    gray = img[..., :1]
    assert resized_crop(gray, (0, 0, 37, 29), (5, 6)).shape == (5, 6, 1)


def test_crop_box_follows_random_resized_crop_sampling():
    u = np.full(CROP_UNIFORMS, 0.5)
    top, left, h, w = crop_box(u, 32, 32, SCALE, RATIO)
    side = round(np.sqrt(32 * 32 * 0.54))  # area fraction 0.08 + 0.92 * 0.5, aspect exp(0) = 1
    assert (h, w) == (side, side) and (top, left) == (int(0.5 * (33 - side)),) * 2
    # No attempt can fit (area > image): a centre crop clipped to the ratio range, as the reference.
    assert crop_box(u, 10, 40, (2.0, 3.0), RATIO) == (0, (40 - 13) // 2, 10, 13)
    for _ in range(200):
        top, left, h, w = crop_box(np.random.default_rng(_).random(22), 24, 40, SCALE, RATIO)
        assert 0 <= top <= 24 - h and 0 <= left <= 40 - w and h > 0 and w > 0


def test_record_uniforms_are_a_pure_function_of_seed_epoch_and_id():
    ids = np.arange(100_000)
    u = record_uniforms(3, 1, ids, 2)
    assert u.shape == (100_000, 2) and 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.std() - np.sqrt(1 / 12)) < 0.01
    np.testing.assert_array_equal(record_uniforms(3, 1, ids[[7, 2]], 2), u[[7, 2]])  # order-free
    for other in (record_uniforms(4, 1, ids, 2), record_uniforms(3, 2, ids, 2)):
        assert np.mean(other == u) < 1e-3


@pytest.fixture(scope="module")
def cv1():
    scenario = get_scenario("CV-1")
    variant = scenario.variant("small")
    data = scenario.generate(variant, 0)
    return scenario, variant, {k: v[:16] for k, v in data.items()}


def test_a_batch_is_its_records_one_by_one(cv1):
    scenario, variant, batch = cv1
    transform = RecordTransform(scenario.transforms(variant), seed=5)
    ids = np.arange(100, 116)
    out = transform.batch(batch, ids, epoch=2)
    u = transform.uniforms(2, ids)
    assert transform.stochastic and u.shape == (16, CROP_UNIFORMS + 1)
    for i in (0, 9):
        one = transform({k: v[i] for k, v in batch.items()}, u[i])
        np.testing.assert_array_equal(one["image"], out["image"][i])
    assert scenario.check_batch(variant.__class__("t", 16, 16, variant.params), out) is None


@pytest.mark.parametrize("scenario_id", ["NLP-1", "TAB-1", "TAB-2"])
def test_deterministic_transforms_equal_the_reference(scenario_id):
    scenario = get_scenario(scenario_id)
    variant = scenario.variant("small")
    batch = {k: v[:32] for k, v in scenario.generate(variant, 0).items()}
    transform = RecordTransform(scenario.transforms(variant), seed=0)
    assert not transform.stochastic
    got = transform.batch(batch, np.arange(32), epoch=0)
    want = apply_transforms(batch, scenario.transforms(variant), None)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_pc4_batch_form_equals_the_per_record_draws_and_passes_the_scenario_check():
    scenario = get_scenario("PC-4")
    variant = scenario.variant("small")
    data = scenario.generate(variant, 0)
    ids = np.arange(4000, 4256)
    batch = {k: v[ids] for k, v in data.items()}
    transform = RecordTransform(scenario.transforms(variant), seed=3)
    out = transform.batch(batch, ids, epoch=1)
    u = transform.uniforms(1, ids)
    for i in range(0, 256, 17):
        one = transform({k: v[i] for k, v in batch.items()}, u[i])
        np.testing.assert_array_equal(one["x"], out["x"][i])
    assert scenario.check_batch(variant, out) is None
    negated, shifted = out["x"][:, 0] < 0, np.abs(out["x"][:, 0]) > 5
    assert 0.3 < negated.mean() < 0.7 and 0.1 < shifted.mean() < 0.4  # p = 0.5 and 0.25
    other_epoch = transform.batch(batch, ids, epoch=2)["x"]
    assert not np.array_equal(other_epoch, out["x"])  # fresh draws each epoch


@pytest.mark.parametrize("variant_name", ["depth1", "small", "depth50"])
def test_pc1_chain_in_place_equals_the_reference_and_leaves_its_input_alone(variant_name):
    scenario = get_scenario("PC-1")
    variant = scenario.variant(variant_name)
    batch = {k: v[:64] for k, v in scenario.generate(variant, 0).items()}
    before = {k: v.copy() for k, v in batch.items()}
    transform = RecordTransform(scenario.transforms(variant), seed=0)
    got = transform.batch(batch, np.arange(64), epoch=0)
    want = apply_transforms(before, scenario.transforms(variant), None)
    for k in want:
        assert got[k].dtype == want[k].dtype
        np.testing.assert_array_equal(got[k], want[k])
    for k in batch:  # a memory source's arrays are the batch's: in place only into new buffers
        np.testing.assert_array_equal(batch[k], before[k])
    one = transform({k: v[3] for k, v in batch.items()}, None)
    for k in want:
        np.testing.assert_array_equal(one[k], want[k][3])
    for k in batch:
        np.testing.assert_array_equal(batch[k], before[k])


def test_unknown_transforms_are_named():
    from scenarios import Transform

    with pytest.raises(ValueError, match="mixup"):
        RecordTransform((Transform.of("mixup", field="image"),), seed=0)


def test_records_pickle_as_paths_and_epochs_are_permutations(tmp_path):
    import pickle

    np.save(tmp_path / "x.npy", np.arange(10) * 3)
    records = NpyRecords({"x": str(tmp_path / "x.npy")})
    assert records[4]["x"] == 12 and len(records) == 10
    clone = pickle.loads(pickle.dumps(records))
    np.testing.assert_array_equal(clone.gather(np.array([1, 0]))["x"], [3, 0])
    assert len(pickle.dumps(records)) < 500  # no array data inside
    a, b = epoch_order(10, 0, 0), epoch_order(10, 0, 1)
    assert sorted(a) == list(range(10)) and not np.array_equal(a, b)
    np.testing.assert_array_equal(epoch_order(10, 0, 0, shuffle=False), np.arange(10))


def test_a_conversion_runs_once_and_a_failed_one_leaves_nothing(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(3))
    data = {"x": str(tmp_path / "x.npy")}
    calls = []

    def write(folder):
        calls.append(folder)
        (folder / "out.bin").write_bytes(b"ok")

    first = converted(data, "peer", write)
    assert converted(data, "peer", write) == first and len(calls) == 1
    assert (first / "out.bin").read_bytes() == b"ok"

    def broken(folder):
        (folder / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        converted(data, "other", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peer", "x.npy"]


def test_tfdata_crop_boxes_follow_random_resized_crop_sampling():
    """tf.data draws its boxes in TF ops: each fits the image, with an area in ``scale`` and an
    aspect in ``ratio`` (or RandomResizedCrop's centre fallback), and they vary."""
    from adapters.tfdata_ops import crop_boxes

    tf = pytest.importorskip("tensorflow")
    for height, width in [(32, 32), (24, 40)]:
        top, left, h, w = (v.numpy() for v in crop_boxes(tf, tf.constant([3, 4], tf.int64), 500, height, width, SCALE, RATIO))
        assert ((top >= 0) & (left >= 0) & (top + h <= height) & (left + w <= width)).all()
        area, aspect = h * w / (height * width), w / h
        sampled = (area >= SCALE[0] - 0.02) & (area <= SCALE[1]) & (aspect >= RATIO[0] * 0.9) & (aspect <= RATIO[1] * 1.1)
        assert sampled.mean() > 0.95
        assert len(set(zip(top, left, h, w))) > 400


_NEW = [("XFMR-1", "small"), ("CV-4", "small"), ("CV-2", "small"), ("MM-2", "small"), ("MM-2", "small-logmel")]


@pytest.fixture(scope="module")
def generated():
    cache = {}

    def get(scenario_id, variant_name):
        if (scenario_id, variant_name) not in cache:
            scenario = get_scenario(scenario_id)
            variant = scenario.variant(variant_name)
            cache[scenario_id, variant_name] = scenario, variant, scenario.generate(variant, 0)
        return cache[scenario_id, variant_name]

    return get


@pytest.mark.parametrize("scenario_id, variant_name", _NEW)
def test_media_batches_are_their_records_and_pass_the_scenario_check(generated, scenario_id, variant_name):
    """The batch forms equal the per-record ops row for row, the scenario's own (row-exact)
    check passes on the stored inputs, and another epoch draws other parameters."""
    scenario, variant, data = generated(scenario_id, variant_name)
    ids = np.random.default_rng(1).permutation(variant.num_records)[: variant.batch_size]
    batch = {k: v[ids] for k, v in data.items()}
    transform = RecordTransform(scenario.transforms(variant), seed=7)
    assert transform.stochastic
    out = transform.batch(batch, ids, epoch=1)
    assert set(out) == {f.name for f in scenario.output_fields(variant)}
    u = transform.uniforms(1, ids)
    for i in (0, 5, len(ids) - 1):
        one = transform({k: v[i] for k, v in batch.items()}, u[i])
        assert set(one) == set(out)
        for k in out:
            assert one[k].dtype == out[k].dtype, k
            np.testing.assert_allclose(one[k], out[k][i], rtol=1e-6, atol=1e-6, err_msg=k)
    assert scenario.check_batch(variant, out, data) is None
    other = transform.batch(batch, ids, epoch=2)
    assert scenario.check_batch(variant, other, data) is None
    moved = [k for k in out if out[k].dtype.kind == "f" and not np.array_equal(out[k], other[k])]
    assert moved, "epoch 2 drew the same parameters as epoch 1"


def test_window_origins_cover_their_range_and_the_offset_is_reported(generated):
    scenario, variant, data = generated("MM-2", "small")
    transform = RecordTransform(scenario.transforms(variant)[:1], seed=0)  # random_window alone
    ids = np.arange(512)
    out = transform.batch({k: v[ids] for k, v in data.items()}, ids, epoch=0)
    offsets, span = out["audio_offset"], variant.param("clip") - variant.param("window")
    assert out["audio_offset"].dtype == np.int32 and offsets.min() >= 0 and offsets.max() <= span
    assert offsets.min() < span * 0.05 and offsets.max() > span * 0.95
    for i in (0, 100):
        np.testing.assert_array_equal(out["audio"][i], data["audio"][i, offsets[i] : offsets[i] + variant.param("window")])


def test_multi_scale_resize_matches_the_reference_bit_for_bit(generated):
    scenario, variant, data = generated("CV-4", "small")
    resize = scenario.transforms(variant)[:1]
    batch = {k: v[:8] for k, v in data.items()}
    got = RecordTransform(resize, seed=0).batch(batch, np.arange(8), epoch=0)
    want = apply_transforms(batch, resize, None)
    for k in want:
        assert got[k].dtype == want[k].dtype
        np.testing.assert_array_equal(got[k], want[k])


def test_draws_are_torch_ops_draws(generated):
    """The same seed, epoch and record give the same window (and values) as the torch peer."""
    torch = pytest.importorskip("torch")
    from adapters import torch_ops

    scenario, variant, data = generated("CV-2", "small")
    ids = np.arange(40, 56)
    batch = {k: v[ids] for k, v in data.items()}
    ours = RecordTransform(scenario.transforms(variant), seed=11).batch(batch, ids, epoch=3)
    theirs = torch_ops.apply(scenario.transforms(variant), {k: torch.from_numpy(v) for k, v in batch.items()}, 11, 3, ids)
    np.testing.assert_allclose(ours["volume"], theirs["volume"].numpy(), atol=1e-4, rtol=1e-4)


def test_mm1_caption_ops_read_the_length_field_per_record_and_per_batch(generated):
    """MM-1's ops (the scenario still needs a peer with the ``variable_length`` capability):
    the batch equals the reference exactly, each record equals its row, and the check passes."""
    scenario, variant, data = generated("MM-1", "small")
    ids = np.arange(200, 200 + variant.batch_size)
    batch = {k: v[ids] for k, v in data.items()}
    transform = RecordTransform(scenario.transforms(variant), seed=0)
    assert not transform.stochastic
    out = transform.batch(batch, ids, epoch=0)
    want = apply_transforms(batch, scenario.transforms(variant), None)
    assert set(out) == set(want)
    for k in want:
        assert out[k].dtype == want[k].dtype, k
        np.testing.assert_array_equal(out[k], want[k], err_msg=k)
    lengths = batch["caption_length"]
    for i in (int(np.argmin(lengths)), int(np.argmax(lengths))):  # a short caption and a truncated one
        one = transform({k: v[i] for k, v in batch.items()}, None)
        for k in want:
            np.testing.assert_array_equal(one[k], want[k][i], err_msg=k)
    assert lengths.max() > variant.param("caption_len") and out["caption_mask"].sum() == np.minimum(lengths, variant.param("caption_len")).sum()
    assert scenario.check_batch(variant, out, data) is None
