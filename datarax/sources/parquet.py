"""Parquet files (pyarrow, imported when the source is built): one column per field.

Scalar columns become ``[N]`` arrays; fixed-size list columns become ``[N, size]`` arrays, or
``[N, *shape]`` when the file's ``datarax.shapes`` metadata (``{field: shape}``, JSON) gives
the per-record shape. A gather reads only the row groups its ids fall in, decodes each once,
and keeps the last ``cached_row_groups`` decoded groups, so an ordered or nearly ordered read
decodes every group once.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
from pathlib import Path

import numpy as np

from datarax.core.config import check_int
from datarax.core.module import HostBox, StructuralConfig
from datarax.sources.base import DataSourceModule

SHAPES_KEY = b"datarax.shapes"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParquetSourceConfig(StructuralConfig):
    """Attributes:
    path: the ``.parquet`` file.
    columns: the columns to read (default: all).
    cached_row_groups: decoded row groups kept in memory (least recently used dropped).
    """

    path: str | Path
    columns: tuple[str, ...] | None = None
    cached_row_groups: int = 8

    def __post_init__(self):
        if not self.path:
            raise ValueError("ParquetSourceConfig needs path= (a .parquet file)")
        check_int("cached_row_groups", self.cached_row_groups, minimum=1)


class ParquetSource(DataSourceModule):
    """Random access to a Parquet file's rows, one decode per row group touched."""

    def __init__(self, config: ParquetSourceConfig):
        super().__init__(config)
        import pyarrow.parquet as pq

        path = Path(config.path)
        if not path.is_file():
            raise FileNotFoundError(f"ParquetSource: no file {path}")
        file = pq.ParquetFile(path)
        names = file.schema_arrow.names
        columns = list(config.columns) if config.columns is not None else names
        missing = [c for c in columns if c not in names]
        if missing or not columns:
            raise ValueError(f"ParquetSource: no columns {missing or columns} in {path}; it has {names}")
        metadata = file.schema_arrow.metadata or {}
        shapes = json.loads(metadata[SHAPES_KEY]) if SHAPES_KEY in metadata else {}
        sizes = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
        self._file = HostBox(
            file=file, columns=columns, shapes={k: tuple(v) for k, v in shapes.items()},
            starts=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            cache=collections.OrderedDict(), lock=threading.Lock(),
        )

    def __len__(self) -> int:
        return int(self._file.starts[-1])

    def _row_group(self, index: int) -> dict[str, np.ndarray]:
        box = self._file
        with box.lock:  # gathers run in the pipeline's thread; tests may call from another
            if index in box.cache:
                box.cache.move_to_end(index)
                return box.cache[index]
            table = box.file.read_row_group(index, columns=box.columns)
            decoded = {name: _to_numpy(table.column(name), box.shapes.get(name)) for name in box.columns}
            box.cache[index] = decoded
            while len(box.cache) > self.config.cached_row_groups:
                box.cache.popitem(last=False)
            return decoded

    def gather(self, record_ids: np.ndarray, *, epoch: int = 0) -> dict[str, np.ndarray]:
        ids = np.asarray(record_ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"ParquetSource: record ids outside [0, {len(self)})")
        groups = np.searchsorted(self._file.starts, ids, side="right") - 1
        out: dict[str, np.ndarray] | None = None
        for group in np.unique(groups):
            rows = np.flatnonzero(groups == group)
            decoded = self._row_group(int(group))
            local = ids[rows] - self._file.starts[group]
            if out is None:
                out = {k: np.empty((len(ids), *v.shape[1:]), v.dtype) for k, v in decoded.items()}
            for name, values in decoded.items():
                out[name][rows] = values[local]
        return out if out is not None else {}


def _to_numpy(column, shape: tuple[int, ...] | None) -> np.ndarray:
    """A pyarrow column → ``[rows, ...]``: fixed-size lists to ``[rows, *shape]`` (their size
    when no shape is recorded); anything else must be scalar numbers."""
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    rows = len(column)
    if pa.types.is_fixed_size_list(column.type):
        values = column.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(rows, *(shape or (column.type.list_size,)))
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        raise TypeError(f"ParquetSource: column of type {column.type} holds variable-length lists; "
                        "store fixed-size lists (one shape per field)")
    return column.to_numpy(zero_copy_only=False)
