"""Graph nodes that compose stages into a pipeline, and the executor that runs them.

Reading order for the executor: ``plan`` (stages by placement, the batching plan),
``executor`` (the host side: gather and host stages), ``step`` (the compiled step) and
``iterator`` (handing batches out, advancing the position).
"""

from datarax.dag.cache import Cache
from datarax.dag.nodes import Branch, Merge, ModuleNode, Node, OperatorNode, Parallel, Sequential, SplitField
from datarax.dag.rebatch import Rebatch
from datarax.dag.step import run_stages

__all__ = ["Branch", "Cache", "Merge", "ModuleNode", "Node", "OperatorNode", "Parallel", "Rebatch",
           "Sequential", "SplitField", "run_stages"]
