"""The benchmark's workloads; ``get_scenario(id)`` looks one up by its id (e.g. ``"CV-1"``)."""

from scenarios.audio import AudioTokens
from scenarios.base import FieldSpec, NonConformant, Scenario, Transform, Variant
from scenarios.caching import CachedTransform
from scenarios.chain import ChainDepth
from scenarios.distributed import DataParallel, DeviceMesh
from scenarios.graph import ProbabilisticOps, Rebatching, TwoViews
from scenarios.io import MixedSources, SourceBackends, StreamingVsEager
from scenarios.learnable import LearnableTransform
from scenarios.mixing import BatchMixing
from scenarios.multimodal import ImageCaption
from scenarios.multiprocess import MultiProcess
from scenarios.overhead import HeavyTransforms, ModuleOverhead
from scenarios.production import CheckpointResume, Determinism
from scenarios.tabular import DenseFeatures, Recommendation
from scenarios.text import PretrainingTokens, VariableLengthText
from scenarios.vision import ImageClassification, MedicalVolumes, MultiResolution

SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        ImageClassification(), PretrainingTokens(), DenseFeatures(), ChainDepth(), SourceBackends(),
        Determinism(), Recommendation(), ModuleOverhead(), ImageCaption(),
        MedicalVolumes(), MixedSources(), HeavyTransforms(), VariableLengthText(),
        CheckpointResume(), StreamingVsEager(), MultiResolution(), AudioTokens(),
        BatchMixing(), TwoViews(), Rebatching(), ProbabilisticOps(), LearnableTransform(), CachedTransform(),
        DataParallel(), DeviceMesh(), MultiProcess(),
    )
}


def get_scenario(scenario_id: str) -> Scenario:
    try:
        return SCENARIOS[scenario_id]
    except KeyError:
        raise KeyError(
            f"unknown scenario {scenario_id!r}; valid: {', '.join(SCENARIOS)}"
        ) from None


__all__ = ["SCENARIOS", "FieldSpec", "NonConformant", "Scenario", "Transform", "Variant", "get_scenario"]
