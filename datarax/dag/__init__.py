"""Graph nodes that compose operators into a pipeline, and the executor that runs them."""

from datarax.dag.nodes import (
    Branch,
    Merge,
    ModuleNode,
    Node,
    OperatorNode,
    Parallel,
    Sequential,
    SplitField,
)

__all__ = ["Branch", "Merge", "ModuleNode", "Node", "OperatorNode", "Parallel", "Sequential", "SplitField"]
