"""``MapOperator``: one function applied to array leaves of every record."""

from __future__ import annotations

import dataclasses
import zlib
from typing import Callable

import jax
from flax import nnx

from datarax.core.module import OperatorConfig
from datarax.operators.element import RecordOperator


@dataclasses.dataclass(frozen=True, kw_only=True)
class MapOperatorConfig(OperatorConfig):
    """Attributes:
    fields: the fields to map (default: every field of the record).
    """

    fields: tuple[str, ...] | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.fields is not None and (
            isinstance(self.fields, str) or not all(isinstance(f, str) for f in self.fields)
        ):
            raise ValueError(f"fields must be a tuple of field names or None, got {self.fields!r}")


class MapOperator(RecordOperator):
    """``fn(leaf)`` (deterministic) or ``fn(leaf, key)`` (stochastic) on each selected field.

    ``fn`` sees one record's array (no batch axis). A stochastic map gives each field its own
    key, derived from the record's key and the field name.
    """

    def __init__(self, config: MapOperatorConfig, *, fn: Callable, rngs: nnx.Rngs | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        super().__init__(config, rngs=rngs)
        self.fn = fn

    def apply_batch(self, batch, record_ids, epoch):
        missing = sorted(set(self.config.fields or ()) - set(batch))
        if missing:
            raise KeyError(f"MapOperator: no fields {missing}; the batch has {sorted(batch)}")
        return super().apply_batch(batch, record_ids, epoch)

    def apply_record(self, data, key):
        names = self.config.fields if self.config.fields is not None else tuple(data)
        out = dict(data)
        for name in names:
            if key is None:
                out[name] = self.fn(data[name])
            else:
                out[name] = self.fn(data[name], jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF))
        return out
