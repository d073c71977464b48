"""What the stream-style peers (Ray Data, SPDL, jax-dataloader, HF Datasets, WebDataset, LitData,
Deep Lake) share beyond ``adapters._records``: their capabilities and their PR-1 state.

A peer's checkpoint is the state of the batches its *consumer* holds, not of what its workers or
the delivery thread have produced ahead: the producer records the loader's state after each
batch it hands over (``Resumable.record``), and the consumer's ``next`` takes one state per
batch it returns. So the saved state is exact whatever the prefetch depth.

Where a library has its own iterator state (LitData's ``StreamingDataLoader.state_dict``) that
state is recorded; where it has none, the state is the seeded sampler's position
(``Position``: epoch and batches consumed of it), from which the loader is rebuilt to start at
that batch.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from adapters._records import HANDLED_CAPABILITIES, epoch_order

# Every stream peer delivers through ``job.sharding()`` (its own idiom or the shared helper), so
# a device mesh (DIST-1/2) is a delivery point like any other.
SHARDED_CAPABILITIES = HANDLED_CAPABILITIES | {"device_sharding"}
STATE_FILE = "loader_state.json"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Position:
    """Where a seeded stream of fixed-size batches stands: ``batch`` batches of ``epoch`` done."""

    epoch: int = 0
    batch: int = 0

    def __post_init__(self):
        if self.epoch < 0 or self.batch < 0:
            raise ValueError(f"a position has epoch >= 0 and batch >= 0, got {self}")

    def after(self, batches_per_epoch: int) -> "Position":
        """The position one batch later."""
        if self.batch + 1 >= batches_per_epoch:
            return Position(epoch=self.epoch + 1)
        return Position(epoch=self.epoch, batch=self.batch + 1)


def id_batches_from(job, start: Position = Position()) -> Iterator[tuple[Position, np.ndarray]]:
    """Endless ``(position of the batch, ids)`` of ``job``'s seeded order, from ``start`` on
    (the same order as ``adapters._records.id_batches``)."""
    variant = job.variant
    per_epoch = variant.num_records // variant.batch_size
    epoch, first = start.epoch, start.batch
    while True:
        order = epoch_order(variant.num_records, job.seed, epoch, job.shuffle)
        for index in range(first, per_epoch):
            yield Position(epoch=epoch, batch=index), order[index * variant.batch_size : (index + 1) * variant.batch_size]
        epoch, first = epoch + 1, 0


class Resumable:
    """Delivered batches that know the loader state after the last batch returned.

    ``record(state)`` is called by the producer after each batch it hands to delivery, in
    order; each ``next`` pops one, so ``state`` belongs to the consumer's last batch.
    """

    def __init__(self, initial: Any):
        self._states: collections.deque = collections.deque()
        self._delivered: Iterator | None = None
        self.state = initial

    def record(self, state: Any) -> None:
        self._states.append(state)

    def deliver_from(self, delivered: Iterator) -> "Resumable":
        self._delivered = delivered
        return self

    def __iter__(self) -> "Resumable":
        return self

    def __next__(self):
        batch = next(self._delivered)
        self.state = self._states.popleft()
        return batch

    def close(self) -> None:
        close = getattr(self._delivered, "close", None)
        if callable(close):
            close()


def positioned(batches: Iterator, job, start: Position, deliver: Callable[[Iterator], Iterator]) -> Resumable:
    """``deliver(batches)`` as a ``Resumable`` whose state is the sampler position after each
    batch; ``batches`` must be ``job``'s seeded stream from ``start`` on, fixed-size batches."""
    variant = job.variant
    per_epoch = variant.num_records // variant.batch_size
    out = Resumable(start)

    def counted():
        position = start
        try:
            for batch in batches:
                position = position.after(per_epoch)
                out.record(position)
                yield batch
        finally:
            close = getattr(batches, "close", None)
            if callable(close):
                close()

    return out.deliver_from(deliver(counted()))


def save_state(iterator: Any, directory: Path) -> None:
    """Writes a ``Resumable``'s state (a ``Position`` or a JSON-able dict) to ``directory``."""
    if not isinstance(iterator, Resumable):
        raise TypeError(f"save_checkpoint takes the iterator open() returned, got a {type(iterator).__name__}")
    state = iterator.state
    payload = {"position": dataclasses.asdict(state)} if isinstance(state, Position) else {"loader": state}
    Path(directory, STATE_FILE).write_text(json.dumps(payload))


def load_state(directory: Path) -> Position | Mapping[str, Any]:
    payload = json.loads(Path(directory, STATE_FILE).read_text())
    return Position(**payload["position"]) if "position" in payload else payload["loader"]
