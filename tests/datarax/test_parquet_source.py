"""ParquetSource: columns → fields, fixed-size lists → arrays of the recorded shape, row groups
decoded once and cached."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datarax import Pipeline
from datarax.sources import ParquetSource, ParquetSourceConfig


@pytest.fixture
def parquet_file(tmp_path):
    n, shape = 100, (2, 3)
    image = np.arange(n * 6, dtype=np.uint8).reshape(n, *shape)
    label = np.arange(n, dtype=np.int32) * 10
    table = pa.table({
        "image": pa.FixedSizeListArray.from_arrays(pa.array(image.reshape(-1)), 6),
        "label": pa.array(label),
        "flat": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(n * 4, dtype=np.float32)), 4),
    }).replace_schema_metadata({b"datarax.shapes": json.dumps({"image": list(shape)}).encode()})
    path = tmp_path / "records.parquet"
    pq.write_table(table, path, row_group_size=16)  # 7 row groups
    return path, image, label


def test_gather_reads_rows_across_row_groups_in_any_order(parquet_file):
    path, image, label = parquet_file
    source = ParquetSource(ParquetSourceConfig(path=path, cached_row_groups=2))
    assert len(source) == 100
    ids = np.array([99, 0, 17, 16, 15, 64, 3])
    out = source.gather(ids)
    np.testing.assert_array_equal(out["image"], image[ids])
    np.testing.assert_array_equal(out["label"], label[ids])
    assert out["image"].dtype == np.uint8 and out["flat"].shape == (7, 4)  # no recorded shape: [N, size]
    assert len(source._file.cache) == 2  # least recently used groups dropped
    with pytest.raises(IndexError, match=r"\[0, 100\)"):
        source.gather(np.array([100]))


def test_columns_are_selected_and_unknown_ones_named(parquet_file):
    path, _, label = parquet_file
    source = ParquetSource(ParquetSourceConfig(path=path, columns=("label",)))
    assert set(source.gather(np.array([5]))) == {"label"}
    with pytest.raises(ValueError, match="no columns \\['nope'\\]"):
        ParquetSource(ParquetSourceConfig(path=path, columns=("nope",)))
    with pytest.raises(FileNotFoundError):
        ParquetSource(ParquetSourceConfig(path=path.with_name("missing.parquet")))


def test_a_pipeline_reads_every_record_once_per_epoch(parquet_file):
    path, _, label = parquet_file
    pipeline = Pipeline(ParquetSource(ParquetSourceConfig(path=path)), batch_size=20, shuffle=True, seed=3)
    seen = np.concatenate([np.asarray(b["label"]) for _, b in zip(range(5), pipeline)])
    np.testing.assert_array_equal(np.sort(seen), label)
