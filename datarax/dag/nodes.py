"""Nodes of a pipeline graph. Every node is traced into the one compiled step per batch shape."""

from __future__ import annotations

import jax
from flax import nnx

from datarax.core.module import DataraxModule, OperatorModule
from datarax.typing import Batch


class Node(DataraxModule):
    """A stage of the pipeline graph: ``batch -> batch`` inside the compiled step."""

    def __init__(self):
        super().__init__(config=None)

    @property
    def name(self) -> str:
        return type(self).__name__

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

    @property
    def name(self) -> str:
        return f"OperatorNode({type(self.operator).__name__})"

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        return self.operator.apply_batch(batch, record_ids, epoch)


class ModuleNode(Node):
    """Runs a plain ``nnx.Module`` as ``module(batch) -> batch`` (no record keys)."""

    def __init__(self, module: nnx.Module):
        if not isinstance(module, nnx.Module) or not callable(module):
            raise TypeError(f"ModuleNode wraps a callable nnx.Module, got {type(module).__name__}")
        super().__init__()
        self.module = module

    @property
    def name(self) -> str:
        return f"ModuleNode({type(self.module).__name__})"

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        return self.module(batch)
