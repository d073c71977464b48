"""TensorFlow Datasets into the source contract, converted column-wise into NumPy.

The split is read as batched ``tf.data`` chunks (``tfds.as_numpy``), so conversion is one
array per field per chunk, never one record at a time. Nothing is downloaded unless
``download=True``. ``tensorflow``/``tensorflow_datasets`` are imported lazily.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from datarax.core.config import check_bool, check_int
from datarax.core.module import StructuralConfig
from datarax.sources.base import ColumnSource


@dataclasses.dataclass(frozen=True, kw_only=True)
class TFDSSourceConfig(StructuralConfig):
    """Attributes:
    name, split, data_dir: which prepared TFDS dataset to read (unused when a
      ``tf.data.Dataset`` is passed to :class:`TFDSSource`).
    fields: top-level features to keep (default: all; each numeric with a fixed shape).
    download: allow ``download_and_prepare`` (off: only data already on disk is read).
    chunk_size: records converted per step.
    """

    name: str | None = None
    split: str = "train"
    data_dir: str | None = None
    fields: tuple[str, ...] | None = None
    download: bool = False
    chunk_size: int = 4096

    def __post_init__(self):
        check_bool("download", self.download)
        check_int("chunk_size", self.chunk_size, minimum=1)


class TFDSSource(ColumnSource):
    """An eager, in-memory copy of a TFDS split (or of any ``tf.data.Dataset`` of dicts)."""

    def __init__(self, config: TFDSSourceConfig | None = None, *, dataset: Any = None):
        config = config if config is not None else TFDSSourceConfig()
        import tensorflow_datasets as tfds

        if dataset is None:
            if not config.name:
                raise ValueError("TFDSSource needs dataset= or TFDSSourceConfig(name=...)")
            builder = tfds.builder(config.name, data_dir=config.data_dir)
            if config.download:
                builder.download_and_prepare()
            dataset = builder.as_dataset(split=config.split, shuffle_files=False)
        if config.fields is not None:
            fields = config.fields
            dataset = dataset.map(lambda record: {name: record[name] for name in fields})
        columns: dict[str, list[np.ndarray]] = {}
        for chunk in tfds.as_numpy(dataset.batch(config.chunk_size)):
            for name, values in _flatten(chunk).items():
                columns.setdefault(name, []).append(values)
        if not columns:
            raise ValueError("TFDSSource: the dataset is empty")
        super().__init__(config, {name: np.concatenate(parts) for name, parts in columns.items()})


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """Nested feature dicts become ``"outer/inner"`` fields."""
    if not isinstance(tree, Mapping):
        raise TypeError(f"TFDSSource needs records that are dicts of features, got {type(tree).__name__}")
    flat = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, key + "/"))
        else:
            flat[key] = np.asarray(value)
    return flat
