"""Operators: transformations of batch values, compiled into the pipeline's step."""

from datarax.core.module import OperatorConfig, OperatorModule
from datarax.operators.element import ElementOperator, ElementOperatorConfig

__all__ = ["ElementOperator", "ElementOperatorConfig", "OperatorConfig", "OperatorModule"]
