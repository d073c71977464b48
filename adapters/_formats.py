"""The same records in every storage backend of IO-1: RAM, ArrayRecord and Parquet files.

One writer per format, shared by every loader that reads it (datarax included), so a backend's
bytes are the same whoever reads them. Files are written once per scenario variant beside the
job's ``.npy`` files, from ``Adapter.prepare`` (untimed), and imported lazily: neither module
pulls in JAX, so a peer's cell pays only for its own libraries.

ArrayRecord: one record per row, the row's fields' raw bytes concatenated in field order; the
layout (``{"fields": [{"name", "dtype", "shape"}]}``) sits beside it in ``<file>.schema.json``
(the layout ``datarax.sources.ArrayRecordSource`` reads). Parquet: one column per field;
fields of rank >= 1 are fixed-size lists of their flattened rows, with the shapes in the file's
``datarax.shapes`` metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from adapters._records import NpyRecords, converted
from adapters.base import Job

ARRAY_RECORD_WRITE_OPTIONS = "group_size:1,uncompressed"  # one record per chunk: random reads
PARQUET_ROW_GROUP = 1024
CACHED_ROW_GROUPS = 8  # decoded row groups a reader keeps (datarax's ParquetSource default)
SHAPES_KEY = b"datarax.shapes"
_CHUNK = 4096  # rows serialized at a time: bounded memory


def array_record_file(job: Job) -> Path:
    """The job's records as one ArrayRecord file (written once), with its ``.schema.json``."""

    def write(folder: Path) -> None:
        from array_record.python.array_record_module import ArrayRecordWriter

        arrays = job.arrays()
        writer = ArrayRecordWriter(str(folder / "records.array_record"), ARRAY_RECORD_WRITE_OPTIONS)
        try:
            for start in range(0, job.variant.num_records, _CHUNK):
                parts = [np.ascontiguousarray(a[start : start + _CHUNK]) for a in arrays.values()]
                rows = np.concatenate([p.reshape(len(p), -1).view(np.uint8) for p in parts], axis=1)
                for row in rows:
                    writer.write(row.tobytes())
        finally:
            writer.close()
        fields = [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape[1:])} for n, a in arrays.items()]
        (folder / "records.array_record.schema.json").write_text(json.dumps({"fields": fields}))

    return converted(job.data, "array_record", write) / "records.array_record"


def parquet_file(job: Job) -> Path:
    """The job's records as one Parquet file (written once) in row groups of ``PARQUET_ROW_GROUP``."""

    def write(folder: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = job.arrays()
        shapes = {name: list(a.shape[1:]) for name, a in arrays.items()}
        schema = pa.schema(
            [pa.field(n, _arrow_type(pa, a)) for n, a in arrays.items()],
            metadata={SHAPES_KEY: json.dumps(shapes).encode()},
        )
        with pq.ParquetWriter(folder / "records.parquet", schema) as writer:
            for start in range(0, job.variant.num_records, PARQUET_ROW_GROUP):
                columns = [arrow_column(np.asarray(a[start : start + PARQUET_ROW_GROUP])) for a in arrays.values()]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=PARQUET_ROW_GROUP)

    return converted(job.data, "parquet", write) / "records.parquet"


def _arrow_type(pa, array: np.ndarray):
    item = pa.from_numpy_dtype(array.dtype)
    return pa.list_(item, int(np.prod(array.shape[1:]))) if array.ndim > 1 else item


def arrow_column(rows: np.ndarray):
    """Rows of one field as an Arrow array (fixed-size lists of the flattened rows for rank >= 1)."""
    import pyarrow as pa

    if rows.ndim == 1:
        return pa.array(rows)
    return pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), int(np.prod(rows.shape[1:])))


def arrow_to_numpy(table, shapes: Mapping[str, Sequence[int]]) -> dict[str, np.ndarray]:
    """A pyarrow table (or record batch) of these files → ``{field: array[rows, *shape]}``."""
    out = {}
    for name in table.column_names:
        column = table.column(name)
        column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
        shape = tuple(shapes.get(name, ()))
        values = column.flatten() if shape else column
        out[name] = values.to_numpy(zero_copy_only=False).reshape(len(column), *shape)
    return out


def parquet_shapes(path: Path) -> dict[str, list[int]]:
    import pyarrow.parquet as pq

    return json.loads(pq.read_schema(path).metadata[SHAPES_KEY])


class ArrayRecordRecords(NpyRecords):
    """Random access to the ArrayRecord file of a job: ``gather(ids)`` is one batched read
    (array_record's ``ArrayRecordDataSource``, which Grain re-exports) and a column-wise decode.
    Pickles as the file path; each process opens its own reader."""

    def __init__(self, path: Path | str, source_type: type | None = None):
        self._path, self._source_type = str(path), source_type
        self._source = None
        spec = json.loads(Path(f"{path}.schema.json").read_text())["fields"]
        self._fields, offset = [], 0
        for f in spec:
            dtype, shape = np.dtype(f["dtype"]), tuple(f["shape"])
            nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            self._fields.append((f["name"], dtype, shape, offset, nbytes))
            offset += nbytes

    @property
    def source(self):
        if self._source is None:
            source_type = self._source_type
            if source_type is None:
                from array_record.python.array_record_data_source import ArrayRecordDataSource as source_type
            self._source = source_type([self._path])
        return self._source

    def __len__(self) -> int:
        return len(self.source)

    def decode(self, records: Sequence[bytes]) -> dict[str, np.ndarray]:
        """Raw records (as read from the file) → ``{field: array[len(records), *shape]}``."""
        rows = np.frombuffer(b"".join(records), np.uint8).reshape(len(records), -1)
        return {
            name: rows[:, offset : offset + nbytes].copy().view(dtype).reshape(len(records), *shape)
            for name, dtype, shape, offset, nbytes in self._fields
        }

    def gather(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        return self.decode(self.source.__getitems__([int(i) for i in ids]))

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.gather(np.array([index])).items()}

    def __getstate__(self):
        return {**self.__dict__, "_source": None}


class ParquetRecords(NpyRecords):
    """Random access to the Parquet file of a job: ``gather(ids)`` decodes each row group it
    touches (pyarrow) and keeps the last ``CACHED_ROW_GROUPS`` decoded, as datarax's
    ``ParquetSource`` does by default. Pickles as the path; each process reads for itself."""

    def __init__(self, path: Path | str):
        import pyarrow.parquet as pq

        self._path = str(path)
        metadata = pq.ParquetFile(self._path).metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._shapes = parquet_shapes(Path(self._path))
        self._file, self._decoded = None, {}

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _row_group(self, index: int) -> dict[str, np.ndarray]:
        if index in self._decoded:
            self._decoded[index] = self._decoded.pop(index)  # most recently used last
        else:
            if self._file is None:
                import pyarrow.parquet as pq

                self._file = pq.ParquetFile(self._path)
            self._decoded[index] = arrow_to_numpy(self._file.read_row_group(index), self._shapes)
            while len(self._decoded) > CACHED_ROW_GROUPS:
                del self._decoded[next(iter(self._decoded))]
        return self._decoded[index]

    def gather(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        ids = np.asarray(ids, np.int64)
        groups = np.searchsorted(self._starts, ids, side="right") - 1
        out: dict[str, np.ndarray] = {}
        for group in np.unique(groups):
            rows = np.flatnonzero(groups == group)
            for name, values in self._row_group(int(group)).items():
                if name not in out:
                    out[name] = np.empty((len(ids), *values.shape[1:]), values.dtype)
                out[name][rows] = values[ids[rows] - self._starts[group]]
        return out

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.gather(np.array([index])).items()}

    def __getstate__(self):
        return {**self.__dict__, "_file": None, "_decoded": {}}


def records(job: Job, array_record_source: type | None = None) -> NpyRecords:
    """Random access to the job's records through its backend (``npy``, ``memory``, ``array_record``,
    ``parquet``);
    ``array_record_source`` is the loader's own ArrayRecord data source class, if it has one."""
    if job.backend == "array_record":
        return ArrayRecordRecords(array_record_file(job), array_record_source)
    if job.backend == "parquet":
        return ParquetRecords(parquet_file(job))
    if job.backend not in ("npy", "memory"):
        raise ValueError(f"no records for the {job.backend!r} backend; valid: npy, memory, array_record, parquet")
    return NpyRecords(job.data, in_memory=job.backend == "memory")


def arrays(job: Job) -> dict[str, np.ndarray]:
    """The job's fields as arrays: memory-mapped (``npy``) or loaded whole into RAM (``memory``)."""
    if job.backend == "memory":
        return {name: np.load(path) for name, path in job.data.items()}
    return job.arrays()


def prepare_backend(job: Job) -> None:
    """Writes the job's backend files (ArrayRecord, Parquet) if it reads from one."""
    if job.backend == "array_record":
        array_record_file(job)
    elif job.backend == "parquet":
        parquet_file(job)
