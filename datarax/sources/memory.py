"""A source over a dict of in-memory NumPy (or JAX) arrays."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from datarax.core.module import StructuralConfig
from datarax.sources.base import ColumnSource


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemorySourceConfig(StructuralConfig):
    """Config of :class:`MemorySource` (no options beyond the structural ones)."""


class MemorySource(ColumnSource):
    """Records are rows of ``data``'s equally long arrays, one array per field.

    Arrays may also be ``np.memmap``s; :class:`NpySource` opens a folder of ``.npy`` files so.
    """

    def __init__(self, config: MemorySourceConfig | None = None, *, data: Mapping[str, Any]):
        super().__init__(config if config is not None else MemorySourceConfig(), data)
