"""The one stage contract: ``apply_batch(batch, record_ids, epoch) -> batch``.

Everything placed in a pipeline is a :class:`Stage`: operators, graph nodes, ``Cache``,
``Rebatch`` and host stages such as ``DynamicPadToBucket``. A stage declares *where* it runs
(:class:`Placement`) and the executor runs each placement's stages in order, with no knowledge
of their types. A stage may keep host-side state of its own (``Cache`` its rows).
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Sequence

import jax
from flax import nnx

from datarax.typing import Batch


class Placement(enum.Enum):
    """Where a stage runs; a pipeline's stages come in this order.

    ``HOST``: on the gathered NumPy batch, before the compiled step, in the producer (the
    background thread when there is one); its output shapes may depend on the data.
    ``STEP``: traced into the compiled step, on ``jax.Array``s; keeps the batch dimension.
    ``OUTPUT``: on the step's output, in ``next()``, after the step.
    """

    HOST = "on the host before the compiled step"
    STEP = "inside the compiled step"
    OUTPUT = "on the compiled step's output"


ORDER = (Placement.HOST, Placement.STEP, Placement.OUTPUT)


class Stage(nnx.Module):
    """A pipeline stage: ``apply_batch(batch, record_ids, epoch) -> batch``.

    ``record_ids`` are the batch's record ids (one per row) and ``epoch`` its epoch: traced
    int32 arrays inside the compiled step, a NumPy array and an int on the host. Stochastic
    stages key their randomness on them, so a record's result does not depend on the batch
    it arrives in. Subclasses set the class attributes that describe them:

    - ``placement``: where the executor runs the stage (see :class:`Placement`).
    - ``batch_dependent``: a host stage whose output rows depend on the other rows of the
      call (e.g. padding to the batch's longest record); the pipeline then never gathers
      several batches through it in one call.
    - ``accepts_branches``: the stage takes a :class:`~datarax.dag.nodes.Parallel` node's
      tuple of batches (``Merge``); any other stage given one fails naming itself.

    ``output_batch_size`` (None unless a stage regroups the stream, as ``Rebatch`` does) and
    :meth:`check_upstream` (a stage's rules about what may come before it) complete the
    contract.
    """

    placement: ClassVar[Placement] = Placement.STEP
    batch_dependent: ClassVar[bool] = False
    accepts_branches: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """How errors and stage timings name the stage."""
        return type(self).__name__

    @property
    def output_batch_size(self) -> int | None:
        """Records per output batch when this stage regroups the stream across batches."""
        return None

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        raise NotImplementedError(f"{type(self).__name__} must implement apply_batch(batch, record_ids, epoch)")

    def check_upstream(self, source: Any, upstream: Sequence["Stage"]) -> None:
        """Raises if this stage cannot follow ``source`` and the ``upstream`` stages."""


def apply_stage(stage: Stage, batch: Any, record_ids: Any, epoch: Any) -> Any:
    """``stage.apply_batch`` after checking it may take ``batch`` (a dict, or a tuple of
    branches for a stage that ``accepts_branches``)."""
    if isinstance(batch, tuple) != stage.accepts_branches:
        if stage.accepts_branches:
            raise TypeError(f"{stage.name} combines a Parallel node's branches, got one {type(batch).__name__}")
        raise TypeError(f"{stage.name} takes one batch, got {type(batch).__name__} (a Parallel node's "
                        "branches must be combined by a Merge first)")
    return stage.apply_batch(batch, record_ids, epoch)


def check_order(stages: Sequence[Stage], source: Any) -> None:
    """Every stage accepts what comes before it, and placements come in :data:`ORDER`."""
    for index, stage in enumerate(stages):
        stage.check_upstream(source, stages[:index])
    for before, after in zip(stages, stages[1:]):
        if ORDER.index(after.placement) < ORDER.index(before.placement):
            raise ValueError(f"{after.name} runs {after.placement.value}, so it must come before "
                             f"{before.name}, which runs {before.placement.value}")

