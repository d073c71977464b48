"""Random and composite application of operators, per record, inside the compiled step.

Every choice is drawn from the record's own key (seed, stream, epoch, record id), and every
candidate operator is traced and run on the whole batch; the result is selected per record with
``jnp.where``, so there is no data-dependent control flow. Candidates must keep the batch's
fields and shapes.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from datarax.core.config import check_choice, check_number
from datarax.core.module import OperatorConfig, OperatorModule
from datarax.typing import Batch

STRATEGIES = ("sequential", "parallel", "weighted", "ensemble")


def _check_same(name: str, outputs: Sequence[Batch]) -> None:
    shapes = [{k: (tuple(v.shape), v.dtype) for k, v in out.items()} for out in outputs]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ValueError(f"{name}: candidates must produce the same fields and shapes, got {shapes}")


def _select(index: jax.Array, outputs: Sequence[Batch]) -> Batch:
    """Per record ``i``, the fields of ``outputs[index[i]]``."""
    def pick(*values):
        mask = index.reshape(index.shape + (1,) * (values[0].ndim - 1))
        out = values[0]
        for k, value in enumerate(values[1:], start=1):
            out = jnp.where(mask == k, value, out)
        return out

    return jax.tree.map(pick, *outputs)


def _operators(ops: Sequence[OperatorModule], name: str) -> nnx.List:
    if not ops or not all(isinstance(op, OperatorModule) for op in ops):
        raise TypeError(f"{name} needs a non-empty sequence of OperatorModules, got {ops!r}")
    return nnx.List(list(ops))


class ProbabilisticOperator(OperatorModule):
    """Applies ``op`` to each record with probability ``p``, else leaves it unchanged."""

    def __init__(self, op: OperatorModule, p: float = 0.5, *, rngs: nnx.Rngs | None = None,
                 stream_name: str = "apply"):
        check_number("p", p, low=0.0, high=1.0)
        super().__init__(OperatorConfig(stochastic=True, stream_name=stream_name),
                         rngs=rngs if rngs is not None else nnx.Rngs(0))
        if not isinstance(op, OperatorModule):
            raise TypeError(f"ProbabilisticOperator wraps an OperatorModule, got {type(op).__name__}")
        self.op, self.p = op, float(p)

    def apply_batch(self, batch, record_ids, epoch):
        applied = self.op.apply_batch(batch, record_ids, epoch)
        _check_same("ProbabilisticOperator", [applied, batch])
        draw = jax.vmap(jax.random.uniform)(self.record_keys(record_ids, epoch))
        return _select((draw >= self.p).astype(jnp.int32), [applied, batch])


class SelectorOperator(OperatorModule):
    """Applies one of ``ops`` to each record, chosen with probabilities ``weights``."""

    def __init__(self, ops: Sequence[OperatorModule], weights: Sequence[float] | None = None, *,
                 rngs: nnx.Rngs | None = None, stream_name: str = "select"):
        super().__init__(OperatorConfig(stochastic=True, stream_name=stream_name),
                         rngs=rngs if rngs is not None else nnx.Rngs(0))
        self.ops = _operators(ops, "SelectorOperator")
        weights = [1.0] * len(ops) if weights is None else list(weights)
        if len(weights) != len(ops) or any(not isinstance(w, (int, float)) or w < 0 for w in weights) \
                or sum(weights) <= 0:
            raise ValueError(f"weights must be {len(ops)} non-negative numbers with a positive sum, got {weights!r}")
        self.weights = tuple(w / sum(weights) for w in weights)

    def apply_batch(self, batch, record_ids, epoch):
        outputs = [op.apply_batch(batch, record_ids, epoch) for op in self.ops]
        _check_same("SelectorOperator", outputs)
        logits = jnp.log(jnp.asarray(self.weights))
        index = jax.vmap(lambda key: jax.random.categorical(key, logits))(self.record_keys(record_ids, epoch))
        return _select(index, outputs)


class CompositeOperator(OperatorModule):
    """Several operators as one.

    ``sequential``: one after the other. ``parallel``: each on the same input; the input's
    fields come from the first operator's output, and every operator adds its new fields (e.g.
    several feature extractors). ``weighted``: the float fields are
    the weighted sum of the operators' outputs, weights ``softmax(logits)``; the logits are an
    ``nnx.Param`` (learnable), initialised from ``weights``. ``ensemble``: the mean.
    """

    def __init__(self, ops: Sequence[OperatorModule], strategy: str = "sequential",
                 weights: Sequence[float] | None = None):
        check_choice("strategy", strategy, STRATEGIES)
        super().__init__(OperatorConfig())
        self.ops, self.strategy = _operators(ops, "CompositeOperator"), strategy
        if strategy == "weighted":
            weights = [1.0] * len(ops) if weights is None else list(weights)
            if len(weights) != len(ops) or any(not isinstance(w, (int, float)) or w <= 0 for w in weights):
                raise ValueError(f"weights must be {len(ops)} positive numbers, got {weights!r}")
            self.logits = nnx.Param(jnp.log(jnp.asarray(weights, jnp.float32)))
        elif weights is not None:
            raise ValueError(f"weights apply to strategy='weighted' only, not {strategy!r}")

    def apply_batch(self, batch, record_ids, epoch):
        if self.strategy == "sequential":
            for op in self.ops:
                batch = op.apply_batch(batch, record_ids, epoch)
            return batch
        outputs = [op.apply_batch(batch, record_ids, epoch) for op in self.ops]
        if self.strategy == "parallel":
            merged = dict(outputs[0])
            for out in outputs[1:]:
                merged.update({k: v for k, v in out.items() if k not in batch})
            return merged
        _check_same(f"CompositeOperator({self.strategy})", outputs)
        n = len(outputs)
        w = jax.nn.softmax(self.logits[...]) if self.strategy == "weighted" else jnp.full((n,), 1.0 / n)

        def combine(*values):
            if not jnp.issubdtype(values[0].dtype, jnp.floating):
                return values[0]
            return sum(w[i] * v for i, v in enumerate(values))

        return jax.tree.map(combine, *outputs)
