"""Which record ids make up batch ``i`` of epoch ``e``.

The order of an epoch is a pure function of ``(seed, epoch)``; a shuffled epoch is a true
permutation of the records (each exactly once).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from datarax.core.module import HostBox, StructuralConfig, StructuralModule


@dataclasses.dataclass(frozen=True)
class SamplerConfig(StructuralConfig):
    num_records: int = 0
    shuffle: bool = False
    seed: int = 0
    drop_remainder: bool = True

    def __post_init__(self):
        if not isinstance(self.num_records, int) or self.num_records <= 0:
            raise ValueError(f"num_records must be a positive int, got {self.num_records!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")


class EpochSampler(StructuralModule):
    def __init__(self, config: SamplerConfig):
        super().__init__(config)
        self._cache = HostBox(epoch=None, order=None)

    def batches_per_epoch(self, batch_size: int) -> int:
        n = self.config.num_records
        return n // batch_size if self.config.drop_remainder else -(-n // batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        if self._cache.epoch != epoch:
            n = self.config.num_records
            if self.config.shuffle:
                order = np.random.default_rng([self.config.seed, epoch]).permutation(n)
            else:
                order = np.arange(n)
            self._cache.epoch, self._cache.order = epoch, order
        return self._cache.order

    def batch_ids(self, epoch: int, batch_index: int, batch_size: int) -> np.ndarray:
        start = batch_index * batch_size
        return self.epoch_order(epoch)[start : start + batch_size]
