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

VALID_FIELD = "valid"
"""The boolean field a padded batch (``drop_remainder=False``) carries: True for real records."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Element:
    """One record's fields, in ``data``; an immutable pytree (``update_data`` returns a copy).

    A pipeline carries fields only, so everything a record holds lives in ``data``.
    """

    data: dict[str, Any]

    def update_data(self, updates: Mapping[str, Any]) -> "Element":
        """Returns a copy with ``updates`` merged into ``data`` (new keys are added)."""
        return dataclasses.replace(self, data={**self.data, **updates})
