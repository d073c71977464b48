"""The host side of a pipeline: sampler → gather → ``HOST`` stages → chunks for the step.

Batches travel in *chunks*: ``batches_per_step`` consecutive batches are gathered with one
source call and run through one compiled step, ``vmap``-ed over the chunk so every stage still
sees one batch at a time (per-record keys make the result identical to batch-by-batch). The
step returns each batch as its own arrays. Chunking amortises the fixed per-call costs (NumPy
indexing, jit dispatch, thread hand-off) that otherwise dominate small batches.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any, Callable, Iterator, Sequence

import jax
import numpy as np

from datarax.core.stage import Stage
from datarax.dag.monitor import StageTimes
from datarax.samplers.sampler import IndexSampler
from datarax.sources.base import DataSourceModule, aligned
from datarax.typing import VALID_FIELD, Batch

Position = tuple[int, int]  # (epoch, batch index)


@dataclasses.dataclass(frozen=True)
class HostChunk:
    """Consecutive batches ready for the compiled step.

    ``arrays`` is ``(batch, record_ids, epochs)``, on the host or already transferred.
    Stacked chunks carry a leading chunk axis (``[K, B, ...]``, ``[K, B]``, ``[K]``) and may
    end in padding copies of their last batch (a finite stream's tail) beyond ``positions``;
    an unstacked chunk is one batch. ``record_ids`` are the ids on the host, shaped like
    ``arrays[1]``.
    """

    positions: tuple[Position, ...]
    arrays: tuple[Batch, Any, Any]
    record_ids: np.ndarray
    stacked: bool

    def batch_ids(self, k: int) -> np.ndarray:
        """The record ids of the chunk's ``k``-th batch."""
        return self.record_ids[k] if self.stacked else self.record_ids


def following(position: Position, batches_per_epoch: int) -> Position:
    """The position after the batch at ``position``."""
    epoch, index = position
    return (epoch + 1, 0) if index + 1 == batches_per_epoch else (epoch, index + 1)


def _positions(start: Position, count: int, batches_per_epoch: int, num_epochs: int | None) -> list[Position]:
    """Up to ``count`` positions from ``start`` on, stopping at the end of a finite stream."""
    out, position = [], start
    while len(out) < count and (num_epochs is None or position[0] < num_epochs):
        out.append(position)
        position = following(position, batches_per_epoch)
    return out


def _gather(sampler, source, host_stages, epoch, positions) -> tuple[Batch, np.ndarray]:
    """One source call for ``positions`` (all in ``epoch``), then the host stages."""
    ids, valid = sampler.batches(epoch, positions[0][1], len(positions))  # consecutive in one epoch
    batch = source.gather(ids, epoch=epoch)
    rows = len(ids)
    bad = {k: np.shape(v) for k, v in batch.items() if np.ndim(v) == 0 or len(v) != rows}
    if bad:
        raise ValueError(f"{type(source).__name__}.gather returned fields {bad}, expected {rows} rows")
    if sampler.padded:
        if VALID_FIELD in batch:
            raise ValueError(f"the source has a field {VALID_FIELD!r}, which padded batches reserve")
        batch[VALID_FIELD] = valid
    for stage in host_stages:
        batch = stage.apply_batch(batch, ids, epoch)
    return batch, ids


def host_chunks(
    sampler: IndexSampler,
    source: DataSourceModule,
    host_stages: Sequence[Stage],
    start: Position,
    num_epochs: int | None,
    times: StageTimes,
    batches_per_step: int | None = None,
    transfer: Callable[[Any], Any] | None = None,
) -> Iterator[HostChunk]:
    """Chunks from ``start`` to the end of the stream.

    ``batches_per_step=None`` yields unstacked single batches; an int ``K`` yields stacked
    chunks of ``K`` (the last one padded). ``transfer`` (e.g. to the device, or to global
    arrays over a mesh) is applied to each chunk's arrays and counted as ``host_to_device``.
    """
    size = batches_per_step or 1
    batch_size, per_epoch = sampler.config.batch_size, sampler.batches_per_epoch
    position = start
    while True:
        positions = _positions(position, size, per_epoch, num_epochs)
        if not positions:
            return
        position = following(positions[-1], per_epoch)
        started = time.perf_counter()
        runs = [list(group) for _, group in itertools.groupby(positions, key=lambda p: p[0])]
        parts = [_gather(sampler, source, host_stages, run[0][0], run) for run in runs]
        batch, ids = parts[0] if len(parts) == 1 else (
            {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]},
            np.concatenate([p[1] for p in parts]),
        )
        if batches_per_step is None:
            arrays = (batch, ids.astype(np.int32), np.int32(positions[0][0]))
        else:
            missing = size - len(positions)  # a finite stream's tail: repeat the last batch
            stacked = jax.tree.map(lambda a: _stack(a, size, batch_size, missing), (batch, ids.astype(np.int32)))
            epochs = np.asarray([e for e, _ in positions] + [positions[-1][0]] * missing, np.int32)
            arrays = (*stacked, epochs)
        # Sources and host stages that allocate their own arrays (Parquet, ArrayRecord, padding,
        # a chunk joined across epochs) get aligned buffers too: the step then takes every
        # large input without a copy, in every process alike.
        arrays = (jax.tree.map(aligned, arrays[0]), *arrays[1:])
        host_ids = arrays[1]
        gathered = time.perf_counter()
        times.add("gather", gathered - started, len(positions))
        if transfer is not None:
            arrays = jax.block_until_ready(transfer(arrays))
            times.add("host_to_device", time.perf_counter() - gathered, len(positions))
        yield HostChunk(tuple(positions), arrays, host_ids, batches_per_step is not None)


def _stack(array: np.ndarray, size: int, batch_size: int, missing: int) -> np.ndarray:
    if missing:
        array = np.concatenate([array, *[array[-batch_size:]] * missing])
    return array.reshape(size, batch_size, *array.shape[1:])


to_device = jax.jit(lambda arrays: arrays)
"""A jitted identity: jit's C++ dispatch moves NumPy arguments to the device in tens of
microseconds, where ``jax.device_put`` spends hundreds in Python per batch."""
