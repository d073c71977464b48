"""Variable-length records stored ragged: one flat token array plus ``offsets`` (record ``i`` is
``flat[offsets[i]:offsets[i+1]]``), both memory-mapped ``.npy`` files.

``gather`` pads each batch on the host to its *bucketed* width (the longest record rounded up
to a multiple of ``bucket_size``, at most ``max_len``), so the compiled step sees only a few
shapes: one compilation per bucket, and no batch pays for the dataset's longest record.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

import numpy as np

from datarax.core.config import check_field, check_int
from datarax.core.module import HostBox, StructuralConfig
from datarax.sources.base import DataSourceModule, check_columns


@dataclasses.dataclass(frozen=True, kw_only=True)
class RaggedSourceConfig(StructuralConfig):
    """Where the ragged field lives and how batches are padded.

    Attributes:
      tokens: ``.npy`` of the flat values (1-D, any numeric dtype).
      offsets: ``.npy`` of ``num_records + 1`` increasing int64 offsets into ``tokens``.
      columns: other per-record fields (``name → .npy`` with ``num_records`` rows).
      field: output name of the padded ``[B, width]`` array.
      length_field: output name of the int32 lengths (after truncation to ``max_len``).
      bucket_size: widths are multiples of it (and ``max_len``).
      max_len: records longer than this are truncated.
      pad_value: fills positions at or past each record's length.
    """

    tokens: str | Path
    offsets: str | Path
    columns: Mapping[str, str | Path] = dataclasses.field(default_factory=dict)
    field: str = "tokens"
    length_field: str = "length"
    bucket_size: int = 32
    max_len: int = 512
    pad_value: int = 0

    def __post_init__(self):
        if not self.tokens or not self.offsets:
            raise ValueError("RaggedSourceConfig needs tokens= and offsets= (.npy paths)")
        check_field("field", self.field)
        check_field("length_field", self.length_field)
        check_int("bucket_size", self.bucket_size, minimum=1)
        check_int("max_len", self.max_len, minimum=1)
        check_int("pad_value", self.pad_value)
        clash = {self.field, self.length_field} & set(self.columns)
        if self.field == self.length_field or clash:
            raise ValueError(f"field, length_field and columns need distinct names; {sorted(clash) or self.field!r} repeats")


def bucket_width(longest: int, bucket_size: int, max_len: int) -> int:
    """The padded width for a batch whose longest record has ``longest`` values."""
    return min(max(-(-longest // bucket_size), 1) * bucket_size, max_len)


class RaggedSource(DataSourceModule):
    """Random access to ragged records; a batch is one vectorized gather from the flat array."""

    batch_dependent = True  # the width is the bucket of the batch's longest record

    def __init__(self, config: RaggedSourceConfig):
        super().__init__(config)
        flat = np.load(config.tokens, mmap_mode="r")
        offsets = np.load(config.offsets, mmap_mode="r")
        if flat.ndim != 1 or offsets.ndim != 1 or len(offsets) < 2:
            raise ValueError(f"RaggedSource: tokens must be 1-D and offsets 1-D with >= 2 entries; "
                             f"got shapes {flat.shape} and {offsets.shape}")
        offsets = np.asarray(offsets, np.int64)  # n + 1 ints: small, kept in RAM
        if offsets[0] != 0 or offsets[-1] != len(flat) or (np.diff(offsets) < 0).any():
            raise ValueError(f"RaggedSource: offsets must rise from 0 to len(tokens)={len(flat)}; "
                             f"got {offsets[0]}..{offsets[-1]}")
        columns = check_columns({k: np.load(p, mmap_mode="r") for k, p in config.columns.items()},
                                "RaggedSource") if config.columns else {}
        wrong = {k: len(v) for k, v in columns.items() if len(v) != len(offsets) - 1}
        if wrong:
            raise ValueError(f"RaggedSource: columns {wrong} need {len(offsets) - 1} rows, one per record")
        self._data = HostBox(flat=flat, offsets=offsets, columns=columns)

    def __len__(self) -> int:
        return len(self._data.offsets) - 1

    def gather(self, record_ids: np.ndarray, *, epoch: int = 0) -> dict[str, np.ndarray]:
        c, data = self.config, self._data
        starts = data.offsets[record_ids]
        lengths = np.minimum(data.offsets[record_ids + 1] - starts, c.max_len)
        width = bucket_width(int(lengths.max(initial=0)), c.bucket_size, c.max_len)
        real = np.arange(width) < lengths[:, None]
        positions = np.where(real, starts[:, None] + np.arange(width), 0)
        flat = data.flat
        tokens = np.where(real, flat[positions.ravel()].reshape(positions.shape), flat.dtype.type(c.pad_value))
        out = {name: column[record_ids] for name, column in data.columns.items()}
        return {**out, c.field: tokens, c.length_field: lengths.astype(np.int32)}
