"""A keyed pseudo-random permutation of ``[0, n)``, evaluated on a vector of positions.

A balanced Feistel network permutes ``[0, 4**h)`` (``h`` bits per half) for any round
function; cycle-walking (re-encrypting values that land at or beyond ``n``) restricts it to a
permutation of ``[0, n)``. Nothing of size ``n`` is ever stored: an epoch order costs O(1)
memory and any position is computed directly, which makes resuming mid-epoch free.
"""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective avalanche on uint64 (wrapping arithmetic)."""
    x = np.asarray(x, dtype=_U64)
    with np.errstate(over="ignore"):  # wrapping is the point; 0-d arrays would warn
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def derive_key(*words: int) -> int:
    """A 64-bit key from a few non-negative ints (seed, epoch, salt…), order-sensitive."""
    key = 0
    for word in words:
        key = int(mix64(key ^ ((word + int(_GOLDEN)) & 0xFFFFFFFFFFFFFFFF)))
    return key


class FeistelPermutation:
    """``perm(positions) -> values``: a bijection of ``[0, n)`` determined by ``key``."""

    def __init__(self, n: int, key: int, rounds: int = 6):
        if n <= 0:
            raise ValueError(f"a permutation needs n >= 1 records, got {n}")
        self.n = n
        self._half = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
        self._mask = _U64((1 << self._half) - 1)
        self._round_keys = [_U64(derive_key(key, r)) for r in range(rounds)]

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        h, top = _U64(self._half), _U64(64 - self._half)
        left, right = x >> h, x & self._mask
        with np.errstate(over="ignore"):
            for k in self._round_keys:
                # Round function: the top h bits of a keyed 64-bit multiplicative hash.
                left, right = right, left ^ (((right ^ k) * _GOLDEN) >> top)
        return (left << h) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions)
        if positions.size and (positions.min() < 0 or positions.max() >= self.n):
            raise IndexError(f"positions must lie in [0, {self.n})")
        values = self._encrypt(positions.astype(_U64))
        outside = values >= self.n
        while outside.any():  # cycle-walk: the domain is < 4n, so few rounds are needed
            values[outside] = self._encrypt(values[outside])
            outside = values >= self.n
        return values.astype(np.int64)
