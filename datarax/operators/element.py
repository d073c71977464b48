"""``ElementOperator``: a per-element function, vmapped over the batch."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
from flax import nnx

from datarax.core.module import OperatorConfig, OperatorModule
from datarax.typing import Batch, Element

ElementFn = Callable[[Element, "jax.Array | None"], Element]


@dataclasses.dataclass(frozen=True)
class ElementOperatorConfig(OperatorConfig):
    """Config of :class:`ElementOperator`; see :class:`OperatorConfig`."""


class ElementOperator(OperatorModule):
    """Applies ``fn(element, key) -> element`` to every record of a batch.

    ``key`` is the record's own PRNG key for stochastic operators and ``None`` otherwise.
    The function sees one record (no batch dimension) and must keep the batch structure:
    it may change field shapes and add fields, uniformly across records.
    """

    def __init__(
        self,
        config: ElementOperatorConfig,
        *,
        fn: ElementFn,
        rngs: nnx.Rngs | None = None,
    ):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        super().__init__(config, rngs=rngs)
        self.fn = fn

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        if self.stochastic:
            keys = self.record_keys(record_ids, epoch)
            return jax.vmap(lambda data, key: self.fn(Element(data), key).data)(batch, keys)
        return jax.vmap(lambda data: self.fn(Element(data), None).data)(batch)
