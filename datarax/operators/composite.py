"""Random application of operators, per record, inside the compiled step.

Every choice is drawn from the record's own key (seed, stream, epoch, record id), and every
candidate operator is traced and run on the whole batch; the result is selected per record
(:func:`~datarax.core.select.select_per_record`), so there is no data-dependent control flow.
Candidates must keep the batch's fields and shapes. To compose operators deterministically,
use the graph nodes (``Sequential``, ``Parallel`` with a ``Merge``).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from datarax.core.config import check_number
from datarax.core.module import OperatorConfig, OperatorModule
from datarax.core.select import check_same_fields, select_per_record
from datarax.core.stage import Placement, Stage, apply_stage


def _candidate(op: Stage, owner: str) -> Stage:
    if not isinstance(op, Stage) or op.placement is not Placement.STEP:
        raise TypeError(f"{owner} applies operators of the compiled step, got {op!r:.80}")
    return op


class ProbabilisticOperator(OperatorModule):
    """Applies ``op`` to each record with probability ``p``, else leaves it unchanged."""

    def __init__(self, op: Stage, p: float = 0.5, *, rngs: nnx.Rngs, stream_name: str = "apply"):
        check_number("p", p, low=0.0, high=1.0)
        super().__init__(OperatorConfig(stochastic=True, stream_name=stream_name), rngs=rngs)
        self.op, self.p = _candidate(op, "ProbabilisticOperator"), float(p)

    def apply_batch(self, batch, record_ids, epoch):
        applied = apply_stage(self.op, batch, record_ids, epoch)
        check_same_fields("ProbabilisticOperator", [applied, batch])
        draw = jax.vmap(jax.random.uniform)(self.record_keys(record_ids, epoch))
        return select_per_record((draw >= self.p).astype(jnp.int32), [applied, batch])


class SelectorOperator(OperatorModule):
    """Applies one of ``ops`` to each record, chosen with probabilities ``weights``."""

    def __init__(self, ops: Sequence[Stage], weights: Sequence[float] | None = None, *,
                 rngs: nnx.Rngs, stream_name: str = "select"):
        super().__init__(OperatorConfig(stochastic=True, stream_name=stream_name), rngs=rngs)
        if not ops:
            raise TypeError("SelectorOperator needs a non-empty sequence of operators")
        self.ops = nnx.List([_candidate(op, "SelectorOperator") for op in ops])
        weights = [1.0] * len(ops) if weights is None else list(weights)
        if len(weights) != len(ops) or any(not isinstance(w, (int, float)) or w < 0 for w in weights) \
                or sum(weights) <= 0:
            raise ValueError(f"weights must be {len(ops)} non-negative numbers with a positive sum, got {weights!r}")
        self.weights = tuple(w / sum(weights) for w in weights)

    def apply_batch(self, batch, record_ids, epoch):
        outputs = [apply_stage(op, batch, record_ids, epoch) for op in self.ops]
        check_same_fields("SelectorOperator", outputs)
        logits = jnp.log(jnp.asarray(self.weights))
        index = jax.vmap(lambda key: jax.random.categorical(key, logits))(self.record_keys(record_ids, epoch))
        return select_per_record(index, outputs)
