"""Tabular operators on feature rows ``[D]`` (or scalar columns) per record."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from datarax.core.config import check_int
from datarax.operators.element import FieldConfig, FieldOperator


@dataclasses.dataclass(frozen=True, kw_only=True)
class StandardizeConfig(FieldConfig):
    """``(x - mean) / std`` per column, float32."""

    mean: tuple[float, ...] | float
    std: tuple[float, ...] | float

    def __post_init__(self):
        super().__post_init__()
        std = self.std if isinstance(self.std, (tuple, list)) else (self.std,)
        if not std or any(not isinstance(s, (int, float)) or s <= 0 for s in std):
            raise ValueError(f"std must be positive numbers, got {self.std!r}")


class Standardize(FieldOperator):
    def transform(self, x, key):
        mean = jnp.asarray(self.config.mean, jnp.float32)
        std = jnp.asarray(self.config.std, jnp.float32)
        return (x.astype(jnp.float32) - mean) / std


@dataclasses.dataclass(frozen=True, kw_only=True)
class Log1pConfig(FieldConfig):
    """``log(1 + x)`` in float32 (for skewed non-negative counts)."""


class Log1p(FieldOperator):
    def transform(self, x, key):
        return jnp.log1p(x.astype(jnp.float32))


def hash_to_vocabulary(values, vocab_size: int, salt: int = 0, xp=jnp):
    """``fmix32(uint32(value) ^ salt) % vocab_size`` as int32 (murmur3's finaliser).

    ``xp`` is the array namespace (``jax.numpy`` or ``numpy``): uint32 arithmetic wraps in
    both, so host and device agree bit for bit.
    """
    x = values.astype(xp.uint32) ^ xp.uint32(salt)
    x = (x ^ (x >> 16)) * xp.uint32(0x85EBCA6B)
    x = (x ^ (x >> 13)) * xp.uint32(0xC2B2AE35)
    x = x ^ (x >> 16)
    return (x % xp.uint32(vocab_size)).astype(xp.int32)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HashToVocabularyConfig(FieldConfig):
    """Maps integer categories (any ids) to ``[0, vocab_size)`` by a salted 32-bit hash."""

    vocab_size: int
    salt: int = 0

    def __post_init__(self):
        super().__post_init__()
        check_int("vocab_size", self.vocab_size, minimum=1)
        check_int("salt", self.salt, minimum=0)
        if self.salt >= 2**32:
            raise ValueError(f"salt must be below 2**32, got {self.salt}")


class HashToVocabulary(FieldOperator):
    def transform(self, x, key):
        return hash_to_vocabulary(x, self.config.vocab_size, self.config.salt)
