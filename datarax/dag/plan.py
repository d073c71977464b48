"""How a pipeline runs, fixed when it is built: its stages by placement and its batching plan."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
from flax import nnx

from datarax.core.module import RecordKey
from datarax.core.stage import Placement, Stage, check_order
from datarax.sources.base import DataSourceModule

# Automatic chunking: batches under _SMALL_BATCH_BYTES, whose work is comparable to the fixed
# per-call costs of NumPy indexing and jit dispatch (~0.1 ms), are grouped to about
# _CHUNK_BYTES per step. Compile time grows with the step's outputs (one per field and batch),
# so a chunk has at most _MAX_BATCHES_PER_STEP batches and _MAX_ARRAYS_PER_STEP arrays.
# Larger batches run one per step: chunking them saves nothing and compiles slower.
_SMALL_BATCH_BYTES = 256 << 10
_CHUNK_BYTES = 2 << 20
_MAX_BATCHES_PER_STEP = 16
_MAX_ARRAYS_PER_STEP = 32


def by_placement(stages: Sequence[Stage], source: DataSourceModule) -> dict[Placement, list[Stage]]:
    """The stages of each placement, in order, after checking the order is one they accept."""
    check_order(stages, source)
    return {placement: [s for s in stages if s.placement is placement] for placement in Placement}


@dataclasses.dataclass(frozen=True)
class Plan:
    """How records are grouped on their way through the pipeline.

    Attributes:
      batches_per_step: batches gathered and run through one compiled step together; ``None``
        runs single, unstacked batches. Stages that are :func:`live` when an iterator starts
        always run single batches.
      output_size: records per output batch when a stage regroups the stream (``Rebatch``);
        ``None`` hands out the stages' batches as they are.
    """

    batches_per_step: int | None
    output_size: int | None


def live(stages: nnx.List) -> bool:
    """Whether ``stages`` hold variables other than record keys (parameters being trained):
    their steps then run in ``next()`` with the variables as they are then."""
    return len(nnx.to_flat_state(nnx.state(stages, nnx.Not(RecordKey)))) > 0


def make_plan(source: DataSourceModule, stages: dict[Placement, list[Stage]], *, batch_size: int,
              batches_per_step: int | None, sharded: bool) -> Plan:
    sizes = [s.output_batch_size for s in stages[Placement.OUTPUT] if s.output_batch_size is not None]
    single = sharded or source.batch_dependent or any(s.batch_dependent for s in stages[Placement.HOST])
    if single:
        chosen = 1
    elif batches_per_step is not None:
        chosen = batches_per_step
    else:
        chosen = _batches_for(source.first_record(), batch_size)
    return Plan(batches_per_step=None if chosen == 1 else chosen, output_size=sizes[-1] if sizes else None)


def _batches_for(record: dict[str, Any], batch_size: int) -> int:
    """Batches per step for records like ``record`` (a batch of one): small batches are grouped."""
    batch_bytes = batch_size * sum(np.asarray(v).nbytes for v in record.values())
    chunk = _CHUNK_BYTES // max(batch_bytes, 1) if batch_bytes <= _SMALL_BATCH_BYTES else 1
    cap = min(_MAX_BATCHES_PER_STEP, _MAX_ARRAYS_PER_STEP // max(len(record), 1))
    return int(np.clip(chunk, 1, max(cap, 1)))
