"""HuggingFace ``datasets`` into the source contract, converted column-wise.

``in_memory=True`` (default) converts the selected columns to NumPy once, a slice of rows at a
time; ``in_memory=False`` keeps the Arrow table and gathers each batch with one Arrow ``take``
(slower per batch, for data larger than RAM). ``datasets`` is imported lazily.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from datarax.core.config import check_bool, check_int
from datarax.core.module import HostBox, StructuralConfig
from datarax.sources.base import DataSourceModule, check_columns


@dataclasses.dataclass(frozen=True, kw_only=True)
class HFSourceConfig(StructuralConfig):
    """Attributes:
    path, name, split, data_files: arguments of ``datasets.load_dataset`` (unused when a
      ``dataset`` object is passed to :class:`HFSource`).
    fields: the columns to keep (default: all; each must be numeric with a fixed shape).
    in_memory: convert to NumPy once (fast batches) or gather from Arrow per batch.
    chunk_size: rows converted per step when ``in_memory``.
    """

    path: str | None = None
    name: str | None = None
    split: str = "train"
    data_files: Any = None
    fields: tuple[str, ...] | None = None
    in_memory: bool = True
    chunk_size: int = 8192

    def __post_init__(self):
        check_bool("in_memory", self.in_memory)
        check_int("chunk_size", self.chunk_size, minimum=1)


class HFSource(DataSourceModule):
    """Records of a ``datasets.Dataset`` (passed in, or loaded from ``config.path``)."""

    def __init__(self, config: HFSourceConfig | None = None, *, dataset: Any = None):
        config = config if config is not None else HFSourceConfig()
        super().__init__(config)
        if dataset is None:
            if not config.path:
                raise ValueError("HFSource needs dataset= or HFSourceConfig(path=...)")
            import datasets

            dataset = datasets.load_dataset(
                config.path, config.name, split=config.split, data_files=config.data_files
            )
        if config.fields is not None:
            missing = sorted(set(config.fields) - set(dataset.column_names))
            if missing:
                raise KeyError(f"HFSource: no columns {missing}; the dataset has {dataset.column_names}")
            dataset = dataset.select_columns(list(config.fields))
        table = dataset.with_format("numpy")
        self._length = len(table)
        if config.in_memory:
            chunks = [table[i : i + config.chunk_size] for i in range(0, self._length, config.chunk_size)]
            columns = {name: np.concatenate([c[name] for c in chunks]) for name in table.column_names}
            self._data = HostBox(arrays=check_columns(columns, "HFSource"), table=None)
        else:
            check_columns(table[:1], "HFSource")  # numeric, fixed-shape columns only
            self._data = HostBox(arrays=None, table=table)

    def __len__(self) -> int:
        return self._length

    def gather(self, record_ids: np.ndarray, *, epoch: int = 0) -> dict[str, np.ndarray]:
        if self._data.arrays is not None:
            return {name: a[record_ids] for name, a in self._data.arrays.items()}
        return dict(self._data.table[np.asarray(record_ids, np.int64)])
