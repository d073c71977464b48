"""Per-record operators, vmapped over the batch and traced into the pipeline's step.

``RecordOperator`` is the base: a subclass writes ``apply_record(data, key)`` for one record
(no batch axis) and gets batching by ``jax.vmap``. ``FieldOperator`` narrows that to one
field; ``ElementOperator`` wraps a user function of an :class:`~datarax.typing.Element`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
from flax import nnx

from datarax.core.config import check_field
from datarax.core.module import OperatorConfig, OperatorModule
from datarax.typing import Batch, Element

ElementFn = Callable[[Element, "jax.Array | None"], Element]


class RecordOperator(OperatorModule):
    """``apply_record(data, key) -> data`` for one record, vmapped over the batch.

    ``key`` is the record's own PRNG key (a function of seed, stream, epoch and record id)
    for stochastic operators and ``None`` otherwise. The output must have the same structure
    for every record; it may change shapes and add or remove fields.
    """

    def apply_record(self, data: dict[str, Any], key: jax.Array | None) -> dict[str, Any]:
        raise NotImplementedError

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        if self.stochastic:
            return jax.vmap(self.apply_record)(batch, self.record_keys(record_ids, epoch))
        return jax.vmap(lambda data: self.apply_record(data, None))(batch)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FieldConfig(OperatorConfig):
    """An operator on one field of each record.

    Attributes:
      field: the field it reads and replaces.
    """

    field: str

    def __post_init__(self):
        super().__post_init__()
        check_field("field", self.field)


def require_stochastic(config: OperatorConfig) -> None:
    """For operators that always draw random numbers."""
    if not config.stochastic:
        raise ValueError(f"{type(config).__name__} draws random numbers: stochastic must be True")


class FieldOperator(RecordOperator):
    """Replaces ``config.field`` with ``transform(value, key)`` in every record."""

    def transform(self, value: jax.Array, key: jax.Array | None) -> jax.Array:
        raise NotImplementedError

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        if self.config.field not in batch:
            raise KeyError(
                f"{type(self).__name__}: no field {self.config.field!r}; the batch has {sorted(batch)}"
            )
        return super().apply_batch(batch, record_ids, epoch)

    def apply_record(self, data, key):
        return {**data, self.config.field: self.transform(data[self.config.field], key)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ElementOperatorConfig(OperatorConfig):
    """Config of :class:`ElementOperator`; see :class:`OperatorConfig`."""


class ElementOperator(RecordOperator):
    """Applies ``fn(element, key) -> element`` to every record of a batch.

    The function sees one record (no batch dimension) and must return an ``Element``; its
    ``data`` becomes the record's fields.
    """

    def __init__(self, config: OperatorConfig, *, fn: ElementFn, rngs: nnx.Rngs | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        super().__init__(config, rngs=rngs)
        self.fn = fn

    def apply_record(self, data, key):
        out = self.fn(Element(data), key)
        if not isinstance(out, Element):
            name = getattr(self.fn, "__name__", repr(self.fn))
            raise TypeError(
                f"ElementOperator fn {name} must return an Element "
                f"(e.g. element.update_data({{...}})), got {type(out).__name__}"
            )
        return out.data
