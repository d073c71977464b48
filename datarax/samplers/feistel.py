"""A keyed pseudo-random permutation of ``[0, n)``, evaluated on a vector of positions.

A balanced Feistel network permutes ``[0, 4**h)`` (``h`` bits per half) for any round
function; cycle-walking (re-encrypting values that land at or beyond ``n``) restricts it to a
permutation of ``[0, n)``. Nothing of size ``n`` is ever stored: an epoch order costs O(1)
memory and any position is computed directly, which makes resuming mid-epoch free.
"""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
_GOLDEN_INT, _MASK64 = 0x9E3779B97F4A7C15, (1 << 64) - 1
_GOLDEN = _U64(_GOLDEN_INT)
_SCALAR_TAIL = 32  # cycle-walkers left below this many are finished one by one


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
        # Constants as 0-d arrays: NumPy's per-call cost with a scalar operand is about twice
        # that with an array, and the cycle-walk calls _encrypt on ever smaller arrays.
        self._h, self._top = np.array(self._half, _U64), np.array(64 - self._half, _U64)
        self._mask = np.array((1 << self._half) - 1, _U64)
        self._golden = np.array(_GOLDEN, _U64)
        self._round_ints = [derive_key(key, r) for r in range(rounds)]
        self._round_keys = [np.array(k, _U64) for k in self._round_ints]

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        """One pass of the network over a 1-D uint64 array."""
        left, right = np.right_shift(x, self._h), np.bitwise_and(x, self._mask)
        for k in self._round_keys:
            # Round function: the top h bits of a keyed 64-bit multiplicative hash (arrays
            # wrap silently, as the hash wants).
            mixed = np.bitwise_xor(right, k)
            np.multiply(mixed, self._golden, out=mixed)
            np.right_shift(mixed, self._top, out=mixed)
            np.bitwise_xor(mixed, left, out=mixed)
            left, right = right, mixed
        np.left_shift(left, self._h, out=left)
        return np.bitwise_or(left, right, out=left)

    def _encrypt_int(self, x: int) -> int:
        """:meth:`_encrypt` of one value, in Python ints (the same bijection)."""
        h, top = self._half, 64 - self._half
        left, right = x >> h, x & ((1 << h) - 1)
        for k in self._round_ints:
            left, right = right, left ^ ((((right ^ k) * _GOLDEN_INT) & _MASK64) >> top)
        return (left << h) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions)
        shape, positions = positions.shape, positions.reshape(-1)
        if positions.size and (positions.min() < 0 or positions.max() >= self.n):
            raise IndexError(f"positions must lie in [0, {self.n})")
        values = self._encrypt(positions.astype(_U64))
        # Cycle-walk: re-encrypt the values outside [0, n) until they land inside. The domain
        # is < 4n, so each pass keeps a fraction of the previous one's; passing only those
        # indices on keeps the total work O(len(positions)) (a full-size mask per pass would
        # cost ~log(len) full passes).
        walking = np.flatnonzero(values >= self.n)
        while walking.size > _SCALAR_TAIL:
            moved = self._encrypt(values[walking])
            values[walking] = moved
            walking = walking[moved >= self.n]
        for i in walking.tolist():  # the last few walkers: Python ints beat NumPy's per-call cost
            value = int(values[i])
            while value >= self.n:
                value = self._encrypt_int(value)
            values[i] = value
        return values.astype(np.int64).reshape(shape)
