"""Graph nodes that compose operators into a pipeline, and the executor that runs them."""

from datarax.dag.nodes import ModuleNode, Node, OperatorNode

__all__ = ["ModuleNode", "Node", "OperatorNode"]
