"""``Rebatch(size)``: regroups the pipeline's output into batches of another size, across
batch boundaries, after the compiled step.

The pipeline's position then includes ``record_offset``, the records of the next underlying
batch already handed out, so a checkpoint resumes at the exact record, even into a pipeline
with another ``Rebatch`` size.
"""

from __future__ import annotations

import collections
from typing import Callable, Iterator

import jax.numpy as jnp
import numpy as np

from datarax.core.config import check_int
from datarax.typing import Batch

VALID_FIELD = "valid"  # the executor's mask of a padded batch's real rows


def _real_rows(batch: Batch) -> Batch:
    """``batch`` without its padding rows (padding trails the real records, so positions
    into the batch, e.g. a resumed ``record_offset``, are unchanged)."""
    if VALID_FIELD not in batch:
        return batch
    valid = np.asarray(batch[VALID_FIELD])
    if valid.all():
        return batch
    keep = np.flatnonzero(valid)
    return {k: v[keep] for k, v in batch.items()}


class Rebatch:
    """The last stage of a pipeline: output batches of ``size`` records.

    When a finite stream ends (``num_epochs``), the last batch holds the records left over.
    Padding rows (``valid`` False, from ``drop_remainder=False``) are dropped when regrouping,
    so every output row is a real record; the ``valid`` field is kept (all True).
    """

    def __init__(self, size: int):
        check_int("Rebatch size", size, minimum=1)
        self.size = size

    def __repr__(self) -> str:
        return f"Rebatch({self.size})"


class RebatchIterator:
    """Wraps the pipeline's batch iterator; ``origins`` receives each underlying batch's
    ``(epoch, batch_index)`` as it is handed out, ``set_position(epoch, index, offset)``
    gets the position after every output batch."""

    def __init__(self, inner: Iterator[Batch], size: int, offset: int,
                 origins: collections.deque, set_position: Callable, next_position: Callable):
        self._inner, self._size, self._skip = inner, size, offset
        self._origins, self._set_position, self._next_position = origins, set_position, next_position
        self._chunks: list[list] = []  # [epoch, batch_index, batch, first unread row]
        self._last = None

    def __iter__(self) -> "RebatchIterator":
        return self

    def _rows(self) -> int:
        return sum(len(next(iter(b.values()))) - start for _, _, b, start in self._chunks)

    def __next__(self) -> Batch:
        while self._rows() < self._size:
            try:
                batch = next(self._inner)
            except StopIteration:
                if not self._chunks:
                    raise
                break
            epoch, index = self._last = self._origins.popleft()
            self._chunks.append([epoch, index, _real_rows(batch), self._skip])
            self._skip = 0
        pieces, wanted = [], self._size
        while wanted and self._chunks:
            chunk = self._chunks[0]
            rows = len(next(iter(chunk[2].values())))
            take = min(wanted, rows - chunk[3])
            pieces.append({k: v[chunk[3]:chunk[3] + take] for k, v in chunk[2].items()})
            chunk[3] += take
            wanted -= take
            if chunk[3] == rows:
                self._chunks.pop(0)
        if self._chunks:
            self._set_position(self._chunks[0][0], self._chunks[0][1], self._chunks[0][3])
        else:
            self._set_position(*self._next_position(*self._last), 0)
        if len(pieces) == 1:
            return pieces[0]
        return {k: jnp.concatenate([p[k] for p in pieces]) for k in pieces[0]}

    def stage_times(self) -> dict[str, float]:
        return self._inner.stage_times()

    def close(self) -> None:
        self._inner.close()
