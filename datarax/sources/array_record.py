"""ArrayRecord files: one fixed-layout byte record per row, read a batch at a time.

A record is the concatenated raw bytes of the row's fields in a fixed order; the layout
(field names, dtypes, per-record shapes) lives next to the data in ``<file>.schema.json``,
written by :func:`write_array_record`. A batch is one vectorized ``reader.read(ids)`` per file
and a column-wise decode: the bytes become one ``uint8[batch, record_bytes]`` array whose
column slices are viewed as each field's dtype. ``array_record`` is imported lazily.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from datarax.core.module import HostBox, StructuralConfig
from datarax.sources.base import DataSourceModule, check_columns

_READ_OPTIONS = "readahead_buffer_size:0"  # random access: no sequential read-ahead
_WRITE_OPTIONS = "group_size:1,uncompressed"  # one record per chunk: a read touches one record
_WRITE_CHUNK = 4096  # rows serialized at a time


def schema_path(path: str | Path) -> Path:
    return Path(f"{path}.schema.json")


def write_array_record(path: str | Path, columns: Mapping[str, Any]) -> Path:
    """Writes ``columns`` (equally long arrays) as one ArrayRecord file plus its schema."""
    from array_record.python.array_record_module import ArrayRecordWriter

    arrays = {n: np.ascontiguousarray(a) for n, a in check_columns(columns, "write_array_record").items()}
    path = Path(path)
    writer = ArrayRecordWriter(str(path), _WRITE_OPTIONS)
    try:
        length = len(next(iter(arrays.values())))
        for start in range(0, length, _WRITE_CHUNK):  # bounded memory for large columns
            parts = [a[start : start + _WRITE_CHUNK] for a in arrays.values()]
            rows = np.concatenate([p.reshape(len(p), -1).view(np.uint8) for p in parts], axis=1)
            for row in rows:
                writer.write(row.tobytes())
    finally:
        writer.close()
    schema = [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape[1:])} for n, a in arrays.items()]
    schema_path(path).write_text(json.dumps({"fields": schema}))
    return path


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArrayRecordSourceConfig(StructuralConfig):
    """Attributes:
    paths: one file or several (their records are concatenated in order); each needs the
      ``.schema.json`` that :func:`write_array_record` writes, all with the same layout.
    """

    paths: str | Path | Sequence[str | Path]

    def __post_init__(self):
        if not self.paths:
            raise ValueError("ArrayRecordSourceConfig needs paths= (one or more .array_record files)")


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int


def _read_layout(path: Path) -> tuple[_Field, ...]:
    spec = schema_path(path)
    if not spec.is_file():
        raise FileNotFoundError(
            f"ArrayRecordSource: {spec} is missing; write the data with write_array_record()"
        )
    fields, offset = [], 0
    for f in json.loads(spec.read_text())["fields"]:
        dtype, shape = np.dtype(f["dtype"]), tuple(f["shape"])
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        fields.append(_Field(f["name"], dtype, shape, offset, nbytes))
        offset += nbytes
    return tuple(fields)


class ArrayRecordSource(DataSourceModule):
    """Random access over ArrayRecord files; the dataset stays on disk."""

    def __init__(self, config: ArrayRecordSourceConfig):
        from array_record.python.array_record_module import ArrayRecordReader

        super().__init__(config)
        paths = [config.paths] if isinstance(config.paths, (str, Path)) else list(config.paths)
        paths = [Path(p) for p in paths]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"ArrayRecordSource: missing files {missing}")
        layouts = [_read_layout(p) for p in paths]
        if any(layout != layouts[0] for layout in layouts):
            raise ValueError(f"ArrayRecordSource: files {[str(p) for p in paths]} differ in layout")
        readers = [ArrayRecordReader(str(p), _READ_OPTIONS) for p in paths]
        counts = np.array([r.num_records() for r in readers], dtype=np.int64)
        self._files = HostBox(readers=readers, starts=np.concatenate([[0], np.cumsum(counts)]))
        self._fields = layouts[0]
        self._record_bytes = sum(f.nbytes for f in self._fields)

    def __len__(self) -> int:
        return int(self._files.starts[-1])

    def gather(self, record_ids: np.ndarray, *, epoch: int = 0) -> dict[str, np.ndarray]:
        ids = np.asarray(record_ids, dtype=np.int64)
        starts = self._files.starts
        rows = np.empty((len(ids), self._record_bytes), dtype=np.uint8)
        owner = np.searchsorted(starts, ids, side="right") - 1
        for f, reader in enumerate(self._files.readers):
            slots = np.flatnonzero(owner == f)
            if slots.size:
                records = reader.read((ids[slots] - starts[f]).tolist())
                rows[slots] = np.frombuffer(b"".join(records), np.uint8).reshape(slots.size, -1)
        return {
            f.name: rows[:, f.offset : f.offset + f.nbytes].copy().view(f.dtype).reshape(len(ids), *f.shape)
            for f in self._fields
        }
