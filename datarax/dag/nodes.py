"""Nodes of a pipeline graph. Every node is traced into the one compiled step per batch."""

from __future__ import annotations

import jax

from datarax.core.module import DataraxModule, OperatorModule
from datarax.typing import Batch


class Node(DataraxModule):
    """A stage of the pipeline graph: ``batch -> batch`` inside the compiled step."""

    def __init__(self):
        super().__init__(config=None)

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        raise NotImplementedError


class OperatorNode(Node):
    """Runs one :class:`OperatorModule` on the batch."""

    def __init__(self, operator: OperatorModule):
        if not isinstance(operator, OperatorModule):
            raise TypeError(
                f"OperatorNode wraps an OperatorModule, got {type(operator).__name__}"
            )
        super().__init__()
        self.operator = operator

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        return self.operator.apply_batch(batch, record_ids, epoch)
