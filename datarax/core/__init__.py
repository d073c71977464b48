"""The module tiers every datarax component derives from."""

from datarax.core.module import (
    DataraxModule,
    HostBox,
    HostStage,
    OperatorConfig,
    OperatorModule,
    RecordKey,
    StructuralConfig,
    StructuralModule,
)

__all__ = [
    "DataraxModule",
    "HostBox",
    "HostStage",
    "OperatorConfig",
    "OperatorModule",
    "RecordKey",
    "StructuralConfig",
    "StructuralModule",
]
