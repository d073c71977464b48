"""Running a pipeline: sampler → gather → host stages → one compiled step, dispatched ahead.

Batches travel in *chunks*: ``batches_per_step`` consecutive batches are gathered with one
source call and run through one compiled step, ``vmap``-ed over the chunk so every stage still
sees one batch at a time (per-record keys make the result identical to batch-by-batch). The
step returns each batch as its own arrays. Chunking amortises the fixed per-call costs (NumPy
indexing, jit dispatch, thread hand-off) that otherwise dominate small batches.

When the stages' variables cannot change while iterating (no parameters being trained), the
step is dispatched by the producer — inline in ``next()`` or in a background thread — ahead of
the consumer; otherwise the producer stops at the device transfer and ``next()`` runs the step
with the variables as they are now. Dropping the iterator (or ``close()``) stops the thread; an
exception in the thread is re-raised by ``next()``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from typing import Any, Callable, Iterator, Sequence

import jax
import numpy as np
from flax import nnx

from datarax.core.module import HostStage
from datarax.dag.cache import Cache
from datarax.dag.monitor import StageTimes
from datarax.dag.nodes import Node
from datarax.samplers.sampler import IndexSampler
from datarax.sources.base import DataSourceModule
from datarax.typing import Batch

VALID_FIELD = "valid"
Position = tuple[int, int]  # (epoch, batch index)


@dataclasses.dataclass(frozen=True)
class HostChunk:
    """Consecutive batches ready for the compiled step.

    ``arrays`` is ``(batch, record_ids, epochs)``. Stacked chunks carry a leading chunk axis
    (``[K, B, ...]``, ``[K, B]``, ``[K]``) and may end in padding copies of their last batch
    (a finite stream's tail) beyond ``positions``; an unstacked chunk is one batch.
    """

    positions: tuple[Position, ...]
    arrays: tuple[Batch, Any, Any]
    stacked: bool


def _following(position: Position, batches_per_epoch: int) -> Position:
    epoch, index = position
    return (epoch + 1, 0) if index + 1 == batches_per_epoch else (epoch, index + 1)


def _positions(start: Position, count: int, batches_per_epoch: int, num_epochs: int | None) -> list[Position]:
    """Up to ``count`` positions from ``start`` on, stopping at the end of a finite stream."""
    out, position = [], start
    while len(out) < count and (num_epochs is None or position[0] < num_epochs):
        out.append(position)
        position = _following(position, batches_per_epoch)
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
        batch = stage.apply_records(batch, ids, epoch) if isinstance(stage, Cache) else stage.apply_host(batch)
    return batch, ids


def host_chunks(
    sampler: IndexSampler,
    source: DataSourceModule,
    host_stages: Sequence[HostStage],
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
        position = _following(positions[-1], per_epoch)
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
        gathered = time.perf_counter()
        times.add("gather", gathered - started, len(positions))
        if transfer is not None:
            arrays = jax.block_until_ready(transfer(arrays))
            times.add("host_to_device", time.perf_counter() - gathered, len(positions))
        yield HostChunk(tuple(positions), arrays, batches_per_step is not None)


def _stack(array: np.ndarray, size: int, batch_size: int, missing: int) -> np.ndarray:
    if missing:
        array = np.concatenate([array, *[array[-batch_size:]] * missing])
    return array.reshape(size, batch_size, *array.shape[1:])


to_device = jax.jit(lambda arrays: arrays)
"""A jitted identity: jit's C++ dispatch moves NumPy arguments to the device in tens of
microseconds, where ``jax.device_put`` spends hundreds in Python per batch."""


# XLA's CPU backend at LLVM optimisation level 1 compiles a pipeline step 2-3x faster than at
# its default, and the steps (gathers, element-wise maps, small matmuls) ran no slower in the
# benchmark's scenarios: time to first batch is mostly compilation.
_CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


@functools.lru_cache(maxsize=64)
def compile_step(graphdef: nnx.GraphDef, treedef: Any, names: tuple[str, ...], batches_per_step: int | None = None) -> Callable:
    """The compiled step over every node, traced into one jit.

    Unstacked (``batches_per_step=None``): ``step(leaves, batch, record_ids, epoch) -> batch``.
    Stacked: ``step(leaves, batches[K], record_ids[K], epochs[K]) -> (batch, …)`` with ``K``
    separate output batches, each computed by the stages on its own batch (``vmap``).

    ``leaves`` are the stages' variables flattened by ``treedef`` (a flat list crosses the
    jit boundary faster than an ``nnx.State``). Cached by graph structure, so pipelines built
    alike share compilations; jit itself caches per batch shape. Tracing checks that each node
    keeps the batch dimension, so an operator that drops or adds records fails with its name.
    """

    options = _CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None

    def one(leaves, batch, record_ids, epoch):
        return run_stages(nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves)), batch, record_ids, epoch)

    if batches_per_step is None:
        return jax.jit(one, compiler_options=options)

    def chunk(leaves, batches, record_ids, epochs):
        out = jax.vmap(one, in_axes=(None, 0, 0, 0))(leaves, batches, record_ids, epochs)
        return tuple(jax.tree.map(lambda a: a[k], out) for k in range(batches_per_step))

    return jax.jit(chunk, compiler_options=options)


def run_stages(stages: Sequence[Node], batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
    """Applies ``stages`` (a pipeline's ``stages``) to one batch: the body of the compiled step.

    Traceable and differentiable: call it inside ``nnx.grad``/``nnx.jit`` to train the
    stages' parameters on batches from :meth:`Pipeline.inputs`.
    """
    size = record_ids.shape[0]
    for node in stages:
        batch = node.apply_batch(batch, record_ids, epoch)
        check_stage_output(node.name, batch, size)
    if not isinstance(batch, dict):
        raise TypeError(f"the last stage {stages[-1].name} returned {len(batch)} branches: "
                        "end a Parallel node with a Merge")
    return batch


def check_stage_output(name: str, batch: Any, size: int) -> None:
    """A stage returns a dict batch (or a Parallel node's tuple of them) of ``size`` rows."""
    for one in batch if isinstance(batch, tuple) else (batch,):
        if not isinstance(one, dict):
            raise TypeError(f"stage {name} returned {type(one).__name__}, expected a dict batch")
        wrong = {k: tuple(v.shape) for k, v in one.items() if not v.shape or v.shape[0] != size}
        if wrong:
            raise ValueError(
                f"stage {name} changed the batch dimension: fields {wrong} should have "
                f"{size} rows; operators must keep one output record per input record"
            )
