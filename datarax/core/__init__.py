"""The module tiers every datarax component derives from, and the stage contract."""

from datarax.core.module import (
    DataraxModule,
    HostBox,
    OperatorConfig,
    OperatorModule,
    RecordKey,
    StructuralConfig,
    StructuralModule,
)
from datarax.core.stage import Placement, Stage

__all__ = [
    "DataraxModule",
    "HostBox",
    "OperatorConfig",
    "OperatorModule",
    "Placement",
    "RecordKey",
    "Stage",
    "StructuralConfig",
    "StructuralModule",
]
