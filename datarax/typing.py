"""Data types that flow through a pipeline.

A *batch* is a plain ``dict[str, Array]`` whose leaves share a leading batch dimension.
An :class:`Element` is one record inside a per-element operator: operators written with
``ElementOperator`` see one record at a time and are vmapped over the batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax

Batch = dict[str, Any]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Element:
    """One record: its fields in ``data`` and per-record operator ``state``.

    Elements are immutable pytrees; ``update_data`` returns a new element.
    """

    data: dict[str, Any]
    state: dict[str, Any] = dataclasses.field(default_factory=dict)

    def update_data(self, updates: Mapping[str, Any]) -> "Element":
        """Returns a copy with ``updates`` merged into ``data`` (new keys are added)."""
        return dataclasses.replace(self, data={**self.data, **updates})

    def update_state(self, updates: Mapping[str, Any]) -> "Element":
        return dataclasses.replace(self, state={**self.state, **updates})
