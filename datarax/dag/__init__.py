"""Graph nodes that compose operators into a pipeline, and the executor that runs them."""

from datarax.dag.cache import Cache
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
from datarax.dag.rebatch import Rebatch

__all__ = ["Branch", "Cache", "Merge", "ModuleNode", "Node", "OperatorNode", "Parallel", "Rebatch",
           "Sequential", "SplitField"]
