"""Which record ids make up batch ``i`` of epoch ``e`` on shard ``k`` of ``K``.

An epoch is one pass over a permutation of the record ids: the identity (sequential) or a
Feistel permutation keyed by ``(seed, epoch)`` (shuffled). Shard ``k`` takes the epoch's
positions ``k, k+K, k+2K, …``, so the K shards are disjoint, cover the epoch, and step ``i``
of all shards together is step ``i`` of one unsharded pipeline with a K times larger batch.
The whole state of a sampler is its config plus ``(epoch, batch index)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from datarax.core.config import check_bool, check_int, check_optional_int
from datarax.core.module import HostBox, StructuralConfig, StructuralModule
from datarax.samplers.feistel import FeistelPermutation, derive_key

_WINDOW_POSITIONS = 1 << 14


@dataclasses.dataclass(frozen=True, kw_only=True)
class SamplerConfig(StructuralConfig):
    """How records are ordered, sharded and batched.

    Attributes:
      num_records: size of the source's index space.
      batch_size: records per batch (per shard).
      shuffle: a new pseudo-random permutation each epoch, else the identity order.
      seed: key of the shuffle; the order of epoch ``e`` depends only on ``(seed, e)``.
      shard_index, shard_count: this process's shard of the index space.
      drop_remainder: drop the positions that do not fill a whole batch (every batch full);
        otherwise the last batch is padded and a boolean ``valid`` field marks real records.
      num_epochs: how many epochs to yield; ``None`` for an endless stream.
    """

    num_records: int
    batch_size: int
    shuffle: bool = False
    seed: int = 0
    shard_index: int = 0
    shard_count: int = 1
    drop_remainder: bool = True
    num_epochs: int | None = None

    def __post_init__(self):
        check_int("num_records", self.num_records, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_bool("shuffle", self.shuffle)
        check_int("seed", self.seed, minimum=0)
        check_int("shard_count", self.shard_count, minimum=1)
        check_int("shard_index", self.shard_index, minimum=0)
        if self.shard_index >= self.shard_count:
            raise ValueError(
                f"shard_index must be in [0, shard_count={self.shard_count}), got {self.shard_index}"
            )
        if self.shard_count > self.num_records:
            raise ValueError(
                f"shard_count={self.shard_count} exceeds the {self.num_records} records"
            )
        check_bool("drop_remainder", self.drop_remainder)
        check_optional_int("num_epochs", self.num_epochs, minimum=1)
        if self.drop_remainder and self.batch_size > self.num_records // self.shard_count:
            raise ValueError(
                f"batch_size={self.batch_size} exceeds the {self.num_records // self.shard_count} "
                f"records per shard (num_records={self.num_records}, shard_count="
                f"{self.shard_count}) with drop_remainder=True, so an epoch would have no batch"
            )


class IndexSampler(StructuralModule):
    """Record ids of each batch, computed on demand (nothing of size ``num_records`` stored)."""

    def __init__(self, config: SamplerConfig):
        super().__init__(config)
        c = config
        per_shard = c.num_records // c.shard_count if c.drop_remainder else -(-c.num_records // c.shard_count)
        self.batches_per_epoch = (
            per_shard // c.batch_size if c.drop_remainder else -(-per_shard // c.batch_size)
        )
        # Ids are computed for a window of batches at once: NumPy's per-call overhead then
        # amortises, and memory stays bounded (at most _WINDOW_POSITIONS ids).
        self._window_batches = max(1, _WINDOW_POSITIONS // c.batch_size)
        self._cache = HostBox(epoch=None, permutation=None, window=None, ids=None, valid=None)

    @property
    def padded(self) -> bool:
        """Whether batches carry a ``valid`` mask (the last batch may be padded)."""
        return not self.config.drop_remainder

    def _permutation(self, epoch: int):
        if self._cache.epoch != epoch:
            c = self.config
            key = derive_key(c.seed, epoch)
            self._cache.permutation = FeistelPermutation(c.num_records, key)
            self._cache.epoch = epoch
        return self._cache.permutation

    def global_positions(self, batch_index: int, count: int = 1) -> np.ndarray:
        """Positions in the epoch's order taken by this shard's batches
        ``batch_index … batch_index + count - 1`` (flat, in order)."""
        c = self.config
        if not (0 <= batch_index and count >= 1 and batch_index + count <= self.batches_per_epoch):
            raise IndexError(
                f"batches [{batch_index}, {batch_index + count}) are outside [0, {self.batches_per_epoch})"
            )
        local = batch_index * c.batch_size + np.arange(count * c.batch_size, dtype=np.int64)
        return local * c.shard_count + c.shard_index

    def batch(self, epoch: int, batch_index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(record_ids, valid)`` of a batch; ``valid`` is None unless batches are padded.

        Padding slots repeat a real record id (so the gather stays in bounds) and are marked
        False in ``valid``.
        """
        return self.batches(epoch, batch_index, 1)

    def batches(self, epoch: int, first: int, count: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``(record_ids, valid)`` of batches ``first … first + count - 1`` of ``epoch``,
        flat and in order, as :meth:`batch` gives them one by one."""
        if not (0 <= first and count >= 1 and first + count <= self.batches_per_epoch):
            raise IndexError(f"batches [{first}, {first + count}) are outside [0, {self.batches_per_epoch})")
        size = self._window_batches
        split = (first // size + 1) * size
        if first + count > split:  # spans windows: one piece per window
            head, tail = self.batches(epoch, first, split - first), self.batches(epoch, split, first + count - split)
            return np.concatenate([head[0], tail[0]]), (np.concatenate([head[1], tail[1]]) if self.padded else None)
        ids, valid = self._window(epoch, first // size)
        rows = slice(first % size, first % size + count)
        return ids[rows].reshape(-1), (valid[rows].reshape(-1) if self.padded else None)

    def _window(self, epoch: int, window: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and validity of the ``window``-th run of ``_window_batches`` batches, ``[batches, B]``."""
        cache = self._cache
        if cache.window != (epoch, window):
            c = self.config
            start = window * self._window_batches
            count = min(self._window_batches, self.batches_per_epoch - start)
            positions = self.global_positions(start, count)
            valid = positions < c.num_records
            positions = np.minimum(positions, c.num_records - 1)
            ids = self._permutation(epoch)(positions) if c.shuffle else positions
            cache.window = (epoch, window)
            cache.ids, cache.valid = ids.reshape(count, c.batch_size), valid.reshape(count, c.batch_size)
        return cache.ids, cache.valid
