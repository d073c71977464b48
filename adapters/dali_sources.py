"""The ``external_source`` callbacks of the DALI adapter: whole batches, chosen by batch number.

Each source is a callable taking DALI's ``BatchInfo`` (``batch_info=True``) and returning one
tuple of batch arrays, DALI's documented form of a source that checkpoints: after a restore,
DALI calls it again from the saved iteration. The source never ends, so ``info.iteration``
numbers the stream's batches; the batch it names is a pure function of that number and the
job's seed (epoch ``iteration // batches_per_epoch`` of the seeded order), and state kept
between calls (the epoch's order, IO-3's stream positions, PC-3's last block) is only a memo.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from adapters._records import epoch_order
from adapters.base import Job


class EpochBatches:
    """Batch ``i`` of the job's seeded epochs (remainder dropped), read by ``gather(ids)`` (one
    vectorized read per field, a dict of arrays); ``fields`` names the outputs in order."""

    def __init__(self, gather: Callable[[np.ndarray], Mapping[str, np.ndarray]] | None, fields: list[str], job: Job,
                 num_records: int | None = None):
        self.gather, self.fields = gather, fields
        self._n = job.variant.num_records if num_records is None else num_records
        self._size, self._seed, self._shuffle = job.variant.batch_size, job.seed, job.shuffle
        self._per_epoch = self._n // self._size
        self._epoch, self._order = -1, None

    def ids(self, iteration: int) -> np.ndarray:
        epoch, position = divmod(iteration, self._per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, epoch_order(self._n, self._seed, epoch, self._shuffle)
        return self._order[position * self._size:(position + 1) * self._size]

    def __call__(self, info) -> tuple:
        batch = self.gather(self.ids(info.iteration))
        return tuple(batch[f] for f in self.fields)


class RaggedBatches(EpochBatches):
    """NLP-2: each record's tokens (``tokens[offsets[i]:offsets[i+1]]``) as its own sample, the
    ragged batch DALI takes as a list of arrays, plus the other fields gathered whole."""

    def __init__(self, arrays: Mapping[str, np.ndarray], fields: list[str], job: Job):
        super().__init__(None, fields, job, num_records=len(arrays["offsets"]) - 1)
        self._tokens, self._offsets = arrays["tokens"], np.asarray(arrays["offsets"])
        self._columns = {k: arrays[k] for k in fields if k != "tokens"}

    def __call__(self, info) -> tuple:
        ids = self.ids(info.iteration)
        starts, ends = self._offsets[ids], self._offsets[ids + 1]
        out = {k: np.asarray(a[ids]) for k, a in self._columns.items()}
        out["tokens"] = [self._tokens[s:e] for s, e in zip(starts, ends)]
        return tuple(out[f] for f in self.fields)


class MixedBatches:
    """IO-3: each row of batch ``i`` comes from dataset ``d`` with the scenario's weight
    (drawn from ``(seed, i)``); each dataset's rows follow its own seeded epochs, advancing
    only when it is drawn (what a weighted sampler over per-source streams does). Outputs
    ``tokens``, ``source``, ``index``."""

    fields = ["tokens", "source", "index"]

    def __init__(self, arrays: Mapping[str, np.ndarray], datasets: tuple[str, ...], job: Job):
        weights = np.asarray(job.variant.param("weights"), np.float64)
        self._cumulative = np.cumsum(weights / weights.sum())[:-1]
        self._columns = [{f: arrays[f"{d}_{f}"] for f in self.fields} for d in datasets]
        self._counts = [len(c["index"]) for c in self._columns]
        self._size, self._seed, self._shuffle = job.variant.batch_size, job.seed, job.shuffle
        self._memo = (0, np.zeros(len(datasets), np.int64))  # (batch number, rows each dataset gave before it)
        self._orders = [(-1, None) for _ in datasets]  # each dataset's current epoch order

    def _choice(self, iteration: int) -> np.ndarray:
        u = np.random.default_rng([self._seed, 3, iteration]).random(self._size)
        return np.searchsorted(self._cumulative, u, side="right")

    def _positions(self, iteration: int) -> np.ndarray:
        start, taken = self._memo if self._memo[0] <= iteration else (0, np.zeros_like(self._memo[1]))
        taken = taken.copy()
        for i in range(start, iteration):
            taken += np.bincount(self._choice(i), minlength=len(taken))
        self._memo = (iteration, taken)
        return taken

    def _rows(self, d: int, first: int, count: int) -> np.ndarray:
        """Rows ``first .. first + count`` of dataset ``d``'s endless stream of seeded epochs."""
        n, at = self._counts[d], first + np.arange(count)
        rows = np.empty(count, np.int64)
        for epoch in np.unique(at // n):
            if self._orders[d][0] != epoch:
                self._orders[d] = (int(epoch), epoch_order(n, self._seed * 16 + d, int(epoch), self._shuffle))
            mine = at // n == epoch
            rows[mine] = self._orders[d][1][at[mine] % n]
        return rows

    def __call__(self, info) -> tuple:
        choice = self._choice(info.iteration)
        taken = self._positions(info.iteration)
        out = {f: np.empty((self._size, *c.shape[1:]), c.dtype) for f, c in self._columns[0].items()}
        for d, columns in enumerate(self._columns):
            mine = choice == d
            rows = self._rows(d, int(taken[d]), int(mine.sum()))
            for f, column in columns.items():
                out[f][mine] = column[rows]
        self._memo = (info.iteration + 1, taken + np.bincount(choice, minlength=len(taken)))
        return tuple(out[f] for f in self.fields)


class Regrouped:
    """PC-3: the records in stored order, read in contiguous blocks of ``source_batch`` rows
    and regrouped into batches of ``batch_size`` across block boundaries (the last block is
    kept for the next batch)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], fields: list[str], job: Job):
        self.arrays, self.fields = arrays, fields
        self._n, self._block = job.variant.num_records, job.variant.param("source_batch")
        self._size = job.variant.batch_size
        self._last: tuple[int, dict] | None = None

    def _read(self, block: int) -> dict[str, np.ndarray]:
        if self._last is None or self._last[0] != block:
            start = (block * self._block) % self._n
            if start + self._block <= self._n:  # one contiguous read
                part = {f: np.asarray(self.arrays[f][start:start + self._block]) for f in self.fields}
            else:  # the block wraps around the end of the records
                rows = (start + np.arange(self._block)) % self._n
                part = {f: np.asarray(self.arrays[f][rows]) for f in self.fields}
            self._last = (block, part)
        return self._last[1]

    def __call__(self, info) -> tuple:
        first = info.iteration * self._size
        blocks = range(first // self._block, (first + self._size - 1) // self._block + 1)
        parts = [self._read(b) for b in blocks]
        skip = first - blocks[0] * self._block
        return tuple(np.concatenate([p[f] for p in parts])[skip:skip + self._size] for f in self.fields)


class StoredOrder:
    """The records once each in stored order, in batches of at most ``batch_size`` (the last one
    shorter), then ``StopIteration``: DALI's end of an epoch (IO-4 fills its cache so)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], fields: list[str], batch_size: int):
        self.arrays, self.fields, self._size = arrays, fields, batch_size
        self.count = len(arrays[fields[0]])

    def __call__(self, info) -> tuple:
        start = info.iteration * self._size
        if start >= self.count:
            raise StopIteration
        return tuple(np.asarray(self.arrays[f][start:start + self._size]) for f in self.fields)
