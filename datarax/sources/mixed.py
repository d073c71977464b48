"""A weighted mixture of sources, with exact proportions and random access.

Each epoch of ``num_records`` positions contains ``counts[s] ≈ weights[s] * num_records``
records of source ``s`` (largest-remainder rounding). Position ``p`` of epoch ``e`` is first
scattered by a Feistel permutation keyed by ``(seed, e)``, so the sources are interleaved even
without a shuffling sampler; the resulting slot picks the source and its ``k``-th draw of the
epoch. Draws walk through each source's own per-pass permutation, continuing across epochs:
a down-weighted source shows new records every epoch, an up-weighted one repeats only after a
full pass. All of it is a pure function of ``(seed, epoch, position)``.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from datarax.core.config import check_int, check_optional_int
from datarax.core.module import HostBox, StructuralConfig
from datarax.samplers.feistel import FeistelPermutation, derive_key
from datarax.sources.base import DataSourceModule

_MIX_SALT, _SOURCE_SALT = 0x4D4958, 0x535243


@dataclasses.dataclass(frozen=True, kw_only=True)
class MixedSourceConfig(StructuralConfig):
    """Attributes:
    weights: relative weight of each source (positive; normalised to sum to one).
    seed: key of the interleaving and of each source's draw order.
    num_records: positions per epoch; default the sum of the sources' lengths.
    """

    weights: tuple[float, ...]
    seed: int = 0
    num_records: int | None = None

    def __post_init__(self):
        if not self.weights or any(
            not isinstance(w, (int, float)) or isinstance(w, bool) or not w > 0 for w in self.weights
        ):
            raise ValueError(f"weights must be a non-empty tuple of positive numbers, got {self.weights!r}")
        check_int("seed", self.seed, minimum=0)
        check_optional_int("num_records", self.num_records, minimum=1)


def apportion(total: int, weights: Sequence[float]) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights`` (largest remainder)."""
    share = np.asarray(weights, np.float64) / np.sum(weights) * total
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


class MixedSource(DataSourceModule):
    """Draws each record from one of ``sources`` with probability proportional to its weight."""

    epoch_dependent = True  # position p of epoch e is drawn afresh every epoch

    def __init__(self, config: MixedSourceConfig, *, sources: Sequence[DataSourceModule]):
        super().__init__(config)
        sources = list(sources)
        if len(sources) != len(config.weights):
            raise ValueError(f"got {len(sources)} sources but {len(config.weights)} weights")
        for s in sources:
            if not isinstance(s, DataSourceModule):
                raise TypeError(f"sources must be DataSourceModules, got {type(s).__name__}")
        _check_same_fields(sources)
        self._length = config.num_records or sum(len(s) for s in sources)
        counts = apportion(self._length, config.weights)
        self._mix = HostBox(
            sources=sources,
            counts=counts,
            starts=np.concatenate([[0], np.cumsum(counts)]),
            perms={},
        )

    def __len__(self) -> int:
        return self._length

    def _perm(self, n: int, *salt: int) -> FeistelPermutation:
        key = (n, *salt)
        perms = self._mix.perms
        if key not in perms:
            if len(perms) > 64:
                perms.clear()
            perms[key] = FeistelPermutation(n, derive_key(self.config.seed, *salt))
        return perms[key]

    def locate(self, record_ids: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(source index, id within that source)`` of each position of epoch ``epoch``."""
        mix = self._mix
        slots = self._perm(self._length, _MIX_SALT, epoch)(np.asarray(record_ids, np.int64))
        which = np.searchsorted(mix.starts, slots, side="right") - 1
        local = np.empty_like(slots)
        for s, source in enumerate(mix.sources):
            mask = which == s
            if not mask.any():
                continue
            draw = epoch * mix.counts[s] + (slots[mask] - mix.starts[s])  # k-th draw overall
            n = len(source)
            passes, offsets = np.divmod(draw, n)
            out = np.empty_like(draw)
            for p in np.unique(passes):
                sel = passes == p
                out[sel] = self._perm(n, _SOURCE_SALT, s, int(p))(offsets[sel])
            local[mask] = out
        return which, local

    def gather(self, record_ids: np.ndarray, *, epoch: int = 0) -> dict[str, np.ndarray]:
        which, local = self.locate(record_ids, epoch)
        out: dict[str, np.ndarray] = {}
        for s, source in enumerate(self._mix.sources):
            slots = np.flatnonzero(which == s)
            if not slots.size:
                continue
            part = source.gather(local[slots], epoch=epoch)
            for name, values in part.items():
                if name not in out:
                    out[name] = np.empty((len(which), *values.shape[1:]), values.dtype)
                out[name][slots] = values
        return out


def _check_same_fields(sources: Sequence[DataSourceModule]) -> None:
    """Every source yields the same fields with the same per-record shapes and dtypes."""

    def signature(source):
        sample = source.gather(np.zeros(1, np.int64))
        return {name: (a.shape[1:], a.dtype.str) for name, a in sample.items()}

    first = signature(sources[0])
    for i, source in enumerate(sources[1:], start=1):
        other = signature(source)
        if other != first:
            raise ValueError(
                f"MixedSource: source {i} has fields {other}, source 0 has {first}; "
                "all sources need the same field names, shapes and dtypes"
            )
