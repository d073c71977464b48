"""A source over a dict of in-memory (or memory-mapped) NumPy arrays."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
from flax import nnx

from datarax.core.module import HostBox, StructuralConfig
from datarax.sources.base import DataSourceModule


@dataclasses.dataclass(frozen=True)
class MemorySourceConfig(StructuralConfig):
    """Config of :class:`MemorySource` (no options yet beyond the structural ones)."""


class MemorySource(DataSourceModule):
    """Records are rows of equally long arrays, one array per field.

    Arrays may be ``np.memmap``s (or ``np.load(..., mmap_mode='r')``), so data larger than RAM
    is paged in only as batches touch it.
    """

    def __init__(
        self,
        config: MemorySourceConfig | None = None,
        *,
        data: Mapping[str, Any],
        rngs: nnx.Rngs | None = None,
    ):
        super().__init__(config if config is not None else MemorySourceConfig())
        if not data:
            raise ValueError("MemorySource needs at least one field, got an empty mapping")
        arrays = {name: np.asarray(value) for name, value in data.items()}
        lengths = {name: (a.shape[0] if a.ndim else None) for name, a in arrays.items()}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            raise ValueError(f"all fields need the same leading length; got {lengths}")
        self._columns = HostBox(arrays=arrays)  # the dataset is never part of a checkpoint
        self._length = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._length

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return self._columns.arrays

    def gather(self, record_ids: np.ndarray) -> dict[str, np.ndarray]:
        return {name: array[record_ids] for name, array in self._columns.arrays.items()}
