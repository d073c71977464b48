"""The three module tiers every datarax component derives from."""

from datarax.core.module import (
    DataraxModule,
    OperatorConfig,
    OperatorModule,
    StructuralConfig,
    StructuralModule,
)

__all__ = [
    "DataraxModule",
    "OperatorConfig",
    "OperatorModule",
    "StructuralConfig",
    "StructuralModule",
]
