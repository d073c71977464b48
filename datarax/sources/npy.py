"""Memory-mapped ``.npy`` files: data larger than RAM, paged in only as batches touch it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

import numpy as np

from datarax.core.module import StructuralConfig
from datarax.sources.base import ColumnSource


@dataclasses.dataclass(frozen=True, kw_only=True)
class NpySourceConfig(StructuralConfig):
    """Where the fields live.

    Attributes:
      path: a folder holding one ``<field>.npy`` per field, or a mapping field → ``.npy`` path.
      fields: the fields to open from a folder (default: every ``.npy`` in it).
    """

    path: str | Path | Mapping[str, str | Path]
    fields: tuple[str, ...] | None = None

    def __post_init__(self):
        if not self.path:
            raise ValueError("NpySourceConfig needs path= (a folder of .npy files or a dict)")


class NpySource(ColumnSource):
    """One ``np.load(..., mmap_mode='r')`` per field; gathers read only the touched rows."""

    def __init__(self, config: NpySourceConfig):
        super().__init__(config, {name: np.load(p, mmap_mode="r") for name, p in _paths(config).items()})


def _paths(config: NpySourceConfig) -> dict[str, Path]:
    if isinstance(config.path, Mapping):
        paths = {name: Path(p) for name, p in config.path.items()}
    else:
        folder = Path(config.path)
        if not folder.is_dir():
            raise FileNotFoundError(f"NpySource: {folder} is not a folder of .npy files")
        available = {p.stem: p for p in sorted(folder.glob("*.npy"))}
        wanted = config.fields if config.fields is not None else tuple(available)
        missing = [f for f in wanted if f not in available]
        if missing or not wanted:
            raise FileNotFoundError(
                f"NpySource: no {missing or '.npy files'} in {folder}; found {sorted(available)}"
            )
        paths = {name: available[name] for name in wanted}
    absent = [str(p) for p in paths.values() if not p.is_file()]
    if absent:
        raise FileNotFoundError(f"NpySource: missing files {absent}")
    return paths
