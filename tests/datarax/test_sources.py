"""Sources: every kind reads a batch of ids in one gather and returns the same records."""

import numpy as np
import pytest

from datarax import Pipeline
from datarax.sources import (
    ArrayRecordSource,
    ArrayRecordSourceConfig,
    HFSource,
    HFSourceConfig,
    MemorySource,
    MixedSource,
    MixedSourceConfig,
    NpySource,
    NpySourceConfig,
    write_array_record,
)


def _columns(n=50, offset=0):
    rng = np.random.default_rng(offset)
    return {
        "image": rng.integers(0, 256, (n, 4, 5, 3), dtype=np.uint8),
        "label": np.arange(offset, offset + n, dtype=np.int32),
        "score": rng.standard_normal(n).astype(np.float32),
    }


def _assert_same(got, want):
    assert set(got) == set(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name], want[name])


IDS = np.array([7, 0, 49, 7, 23])


def test_memory_source_gathers_rows():
    cols = _columns()
    _assert_same(MemorySource(data=cols).gather(IDS), {k: v[IDS] for k, v in cols.items()})


def test_large_gathers_are_aligned_for_a_zero_copy_hand_off_and_still_checked():
    rows = np.arange(4096 * 300, dtype=np.float32).reshape(4096, 300)  # 1.2 KB a row
    source = MemorySource(data={"x": rows})
    ids = np.random.default_rng(0).integers(0, 4096, 1024)  # 1.2 MB: the aligned path
    got = source.gather(ids)["x"]
    np.testing.assert_array_equal(got, rows[ids])
    assert got.ctypes.data % 64 == 0
    with pytest.raises(IndexError, match=r"\[0, 4096\), got \d+ … 4096"):
        source.gather(np.append(ids[:-1], 4096))
    with pytest.raises(IndexError, match=r"got -1"):
        source.gather(np.append(ids[:-1], -1))


def test_every_field_of_64_kib_or_more_lands_aligned_whatever_malloc_gives():
    # 256 rows x 3 KiB (IO-1 small's batch): XLA copies an unaligned buffer of this size on a
    # slow path, and which path a plain take got differed between processes.
    source = MemorySource(data={"payload": np.zeros((1024, 3072), np.uint8), "label": np.arange(1024, dtype=np.int32)})
    for seed in range(8):
        ids = np.random.default_rng(seed).integers(0, 1024, 256)
        got = source.gather(ids)
        assert got["payload"].ctypes.data % 64 == 0
        np.testing.assert_array_equal(got["label"], ids)


def test_aligned_copies_only_large_misaligned_arrays():
    from datarax.sources.base import ALIGNED_BYTES, aligned

    raw = np.arange(ALIGNED_BYTES + 128, dtype=np.uint8)
    start = -raw.ctypes.data % 64 + 16
    misaligned = raw[start:start + ALIGNED_BYTES]
    out = aligned(misaligned)
    assert out.ctypes.data % 64 == 0 and out is not misaligned
    np.testing.assert_array_equal(out, misaligned)
    small = raw[start:start + 100]
    assert aligned(small) is small
    assert aligned(out) is out


def test_memory_source_rejects_unequal_lengths_and_object_columns():
    with pytest.raises(ValueError, match=r"same leading length.*'a': 3.*'b': 4"):
        MemorySource(data={"a": np.zeros(3), "b": np.zeros(4)})
    with pytest.raises(TypeError, match="'text' is not a numeric array"):
        MemorySource(data={"text": np.array(["a", 1], dtype=object)})
    with pytest.raises(ValueError, match="at least one field"):
        MemorySource(data={})


def test_npy_source_memory_maps_a_folder_or_a_dict(tmp_path):
    cols = _columns()
    for name, array in cols.items():
        np.save(tmp_path / f"{name}.npy", array)
    folder = NpySource(NpySourceConfig(path=tmp_path))
    assert all(isinstance(a.base, np.memmap) for a in folder.arrays.values())  # file pages, not a copy
    _assert_same(folder.gather(IDS), {k: v[IDS] for k, v in cols.items()})
    chosen = NpySource(NpySourceConfig(path={"label": tmp_path / "label.npy"}))
    _assert_same(chosen.gather(IDS), {"label": cols["label"][IDS]})
    with pytest.raises(FileNotFoundError, match=r"no \['nope'\].*found \['image', 'label', 'score'\]"):
        NpySource(NpySourceConfig(path=tmp_path, fields=("nope",)))


def test_array_record_source_round_trips_across_files(tmp_path, monkeypatch):
    monkeypatch.setattr("datarax.sources.array_record._WRITE_CHUNK", 16)  # several write chunks
    first, second = _columns(30, 0), _columns(20, 30)
    write_array_record(tmp_path / "a.array_record", first)
    write_array_record(tmp_path / "b.array_record", second)
    source = ArrayRecordSource(ArrayRecordSourceConfig(paths=[tmp_path / "a.array_record", tmp_path / "b.array_record"]))
    assert len(source) == 50
    both = {k: np.concatenate([first[k], second[k]]) for k in first}
    ids = np.array([49, 3, 30, 29, 0, 3])
    _assert_same(source.gather(ids), {k: v[ids] for k, v in both.items()})


def test_array_record_source_needs_its_schema(tmp_path):
    from array_record.python.array_record_module import ArrayRecordWriter

    writer = ArrayRecordWriter(str(tmp_path / "raw.array_record"), "group_size:1")
    writer.write(b"abc")
    writer.close()
    with pytest.raises(FileNotFoundError, match="schema.json is missing"):
        ArrayRecordSource(ArrayRecordSourceConfig(paths=tmp_path / "raw.array_record"))


def test_array_record_source_feeds_a_pipeline(tmp_path):
    cols = _columns()
    write_array_record(tmp_path / "d.array_record", cols)
    source = ArrayRecordSource(ArrayRecordSourceConfig(paths=str(tmp_path / "d.array_record")))
    batches = list(Pipeline(source, batch_size=10, shuffle=True, num_epochs=1))
    labels = np.concatenate([np.asarray(b["label"]) for b in batches])
    assert sorted(labels) == list(range(50))
    images = np.concatenate([np.asarray(b["image"]) for b in batches])
    np.testing.assert_array_equal(images, cols["image"][labels])


def _mixed(weights=(3, 1), seed=0, num_records=None):
    a = MemorySource(data={"label": np.arange(100, dtype=np.int32), "origin": np.zeros(100, np.int32)})
    b = MemorySource(data={"label": np.arange(1000, 1040, dtype=np.int32), "origin": np.ones(40, np.int32)})
    return MixedSource(MixedSourceConfig(weights=weights, seed=seed, num_records=num_records), sources=[a, b])


def test_mixed_source_has_exact_proportions_interleaved_and_walks_on_each_epoch():
    source = _mixed(weights=(3, 1), num_records=80)
    ids = np.arange(80)
    first = source.gather(ids, epoch=0)
    assert np.bincount(first["origin"]).tolist() == [60, 20]
    # Interleaved even without a shuffling sampler: both sources appear in the first quarter.
    assert set(first["origin"][:20].tolist()) == {0, 1}
    # Source a (100 records, 60 draws per epoch): no repeats inside its first pass.
    from_a = first["label"][first["origin"] == 0]
    assert len(set(from_a.tolist())) == 60
    second = source.gather(ids, epoch=1)["label"]
    from_a_next = second[source.gather(ids, epoch=1)["origin"] == 0]
    # Epoch 1 first finishes the pass (the 40 records epoch 0 left out), then starts a new one.
    assert set(from_a.tolist()) | set(from_a_next.tolist()) == set(range(100))
    # Source b (40 records, 20 draws): epochs 0 and 1 together are exactly one pass.
    from_b = np.concatenate([first["label"][first["origin"] == 1], second[second >= 1000]])
    assert sorted(from_b.tolist()) == list(range(1000, 1040))


def test_mixed_source_is_a_pure_function_of_seed_epoch_and_position():
    ids = np.array([5, 17, 3, 60])
    a, b = _mixed(seed=4).gather(ids, epoch=2), _mixed(seed=4).gather(ids[::-1], epoch=2)
    np.testing.assert_array_equal(a["label"], b["label"][::-1])
    assert not np.array_equal(_mixed(seed=5).gather(np.arange(140), epoch=2)["label"],
                              _mixed(seed=4).gather(np.arange(140), epoch=2)["label"])


def test_mixed_source_rejects_mismatched_fields_and_weights():
    a = MemorySource(data={"x": np.zeros((5, 2), np.float32)})
    b = MemorySource(data={"x": np.zeros((5, 3), np.float32)})
    with pytest.raises(ValueError, match="source 1 has fields"):
        MixedSource(MixedSourceConfig(weights=(1, 1)), sources=[a, b])
    with pytest.raises(ValueError, match="2 sources but 1 weights"):
        MixedSource(MixedSourceConfig(weights=(1,)), sources=[a, b])
    with pytest.raises(ValueError, match="weights must be"):
        MixedSourceConfig(weights=(1, -1))


@pytest.mark.parametrize("in_memory", [True, False])
def test_hf_source_converts_column_wise(in_memory):
    import datasets

    cols = _columns()
    dataset = datasets.Dataset.from_dict({**cols, "text": [f"t{i}" for i in range(50)]})
    source = HFSource(HFSourceConfig(fields=("image", "label", "score"), in_memory=in_memory, chunk_size=16), dataset=dataset)
    assert len(source) == 50
    got = source.gather(IDS)
    for name in cols:
        np.testing.assert_array_equal(got[name], cols[name][IDS])
    with pytest.raises(TypeError, match="'text' is not a numeric array"):
        HFSource(HFSourceConfig(in_memory=in_memory), dataset=dataset)
    with pytest.raises(KeyError, match="no columns"):
        HFSource(HFSourceConfig(fields=("nope",)), dataset=dataset)
