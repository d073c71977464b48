"""Record orders: sequential or a Feistel-shuffled permutation per epoch, sharded by process."""

from datarax.samplers.feistel import FeistelPermutation
from datarax.samplers.sampler import IndexSampler, SamplerConfig

__all__ = ["FeistelPermutation", "IndexSampler", "SamplerConfig"]
