"""``Pipeline``: source → sampler → batch gather → one compiled step over all stages.

``from_source(src, batch_size=…) >> OperatorNode(op) >> …`` and
``Pipeline(source=…, stages=[…], batch_size=…)`` build the same object.
"""

from __future__ import annotations

import functools
from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from datarax.core.module import DataraxModule, OperatorModule
from datarax.dag.nodes import Node, OperatorNode
from datarax.samplers.epoch import EpochSampler, SamplerConfig
from datarax.sources.base import DataSourceModule
from datarax.typing import Batch


def _as_node(stage) -> Node:
    if isinstance(stage, Node):
        return stage
    if isinstance(stage, OperatorModule):
        return OperatorNode(stage)
    raise TypeError(
        f"a pipeline stage must be a Node or an OperatorModule, got {type(stage).__name__}"
    )


class Pipeline(DataraxModule):
    """An iterable of batches (dicts of ``jax.Array``) with checkpointable position.

    Iterating continues from the pipeline's current position; ``get_state``/``set_state``
    save and restore it.
    """

    def __init__(
        self,
        source: DataSourceModule,
        stages: Sequence[Node | OperatorModule] = (),
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = True,
        num_epochs: int | None = None,
    ):
        super().__init__(config=None)
        if not isinstance(source, DataSourceModule):
            raise TypeError(f"source must be a DataSourceModule, got {type(source).__name__}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if batch_size > len(source) and drop_remainder:
            raise ValueError(
                f"batch_size={batch_size} exceeds the source's {len(source)} records "
                "with drop_remainder=True, so an epoch would have no batch"
            )
        if num_epochs is not None and (not isinstance(num_epochs, int) or num_epochs <= 0):
            raise ValueError(f"num_epochs must be a positive int or None, got {num_epochs!r}")
        self.source = source
        self.stages = nnx.List([_as_node(s) for s in stages])
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.sampler = EpochSampler(
            SamplerConfig(
                num_records=len(source),
                shuffle=shuffle,
                seed=seed,
                drop_remainder=drop_remainder,
            )
        )
        self.epoch = nnx.Variable(0)
        self.batch_index = nnx.Variable(0)
        self._options = dict(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_remainder=drop_remainder,
            num_epochs=num_epochs,
        )

    def __rshift__(self, stage: Node | OperatorModule) -> "Pipeline":
        return Pipeline(self.source, [*self.stages, stage], **self._options)

    # -- state ------------------------------------------------------------------------------
    def get_state(self) -> dict[str, int]:
        return {"epoch": self.epoch.get_value(), "batch_index": self.batch_index.get_value()}

    def set_state(self, state: dict[str, int]) -> None:
        self.epoch.set_value(int(state["epoch"]))
        self.batch_index.set_value(int(state["batch_index"]))

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Batch]:
        graphdef, state = nnx.split(self.stages)
        per_epoch = self.sampler.batches_per_epoch(self.batch_size)
        while self.num_epochs is None or self.epoch.get_value() < self.num_epochs:
            epoch, index = self.epoch.get_value(), self.batch_index.get_value()
            if index >= per_epoch:
                self.set_state({"epoch": epoch + 1, "batch_index": 0})
                continue
            ids = self.sampler.batch_ids(epoch, index, self.batch_size)
            host = self.source.gather(ids)
            self.batch_index.set_value(index + 1)
            yield _run_stages(graphdef, state, host, ids.astype(np.int32), np.int32(epoch))


@functools.partial(jax.jit, static_argnums=0)
def _run_stages(graphdef, state, batch: Batch, record_ids, epoch) -> Batch:
    """All stages traced into one XLA computation; cached per (graph, batch shapes)."""
    stages = nnx.merge(graphdef, state)
    for stage in stages:
        batch = stage.apply_batch(batch, record_ids, epoch)
    return batch


def from_source(source: DataSourceModule, batch_size: int = 32, **options) -> Pipeline:
    """Starts a pipeline graph at ``source``; extend it with ``>> OperatorNode(op)``."""
    return Pipeline(source, [], batch_size=batch_size, **options)
