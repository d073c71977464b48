"""Record orders: sequential or a shuffled permutation per epoch."""

from datarax.samplers.epoch import EpochSampler, SamplerConfig

__all__ = ["EpochSampler", "SamplerConfig"]
