"""Operators: transformations of batch values, compiled into the pipeline's step.

``ElementOperator`` and ``MapOperator`` wrap user functions; ``datarax.operators.image``,
``.sequence``, ``.tabular``, ``.volume`` and ``.audio`` hold the built-in library.
"""

from datarax.core.module import OperatorConfig, OperatorModule
from datarax.operators.batch_mix import BatchMixConfig, BatchMixOperator
from datarax.operators.composite import ProbabilisticOperator, SelectorOperator
from datarax.operators.element import (
    ElementOperator,
    ElementOperatorConfig,
    FieldConfig,
    FieldOperator,
    RecordOperator,
)
from datarax.operators.learnable import LearnableColorTransform, LearnableConfig, LearnableNormalize
from datarax.operators.map import MapOperator, MapOperatorConfig

__all__ = [
    "BatchMixConfig",
    "BatchMixOperator",
    "ElementOperator",
    "ElementOperatorConfig",
    "FieldConfig",
    "FieldOperator",
    "LearnableColorTransform",
    "LearnableConfig",
    "LearnableNormalize",
    "MapOperator",
    "MapOperatorConfig",
    "OperatorConfig",
    "OperatorModule",
    "ProbabilisticOperator",
    "RecordOperator",
    "SelectorOperator",
]
