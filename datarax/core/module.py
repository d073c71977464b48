"""Module tiers: ``DataraxModule`` → ``OperatorModule`` (transforms values, a stage inside the
compiled step) and ``StructuralModule`` (organises data: sources, samplers, host stages).

Configs are frozen, keyword-only dataclasses validated at construction, so a bad value fails
where it is written, not deep inside a compiled step. A field has a default only where one
value is right for most data; what depends on the user's data (paths, field names, sizes,
statistics) is required.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from datarax.core.config import check_bool
from datarax.core.stage import Placement, Stage


class HostBox:
    """Holds host-side values (datasets, caches, file readers) outside NNX state, so they are
    never traced, split into a checkpoint, or mistaken for parameters."""

    def __init__(self, **values: Any):
        self.__dict__.update(values)


class RecordKey(nnx.Variable):
    """The raw ``uint32`` key data a stochastic operator derives per-record keys from."""


class DataraxModule(nnx.Module):
    """Base of every configured datarax component: an ``nnx.Module`` with a frozen config."""

    def __init__(self, config: Any):
        if not (dataclasses.is_dataclass(config) and not isinstance(config, type)
                and type(config).__dataclass_params__.frozen
                and all(f.kw_only for f in dataclasses.fields(config))):
            raise TypeError(f"config must be a frozen, keyword-only dataclass instance, got {config!r:.80}")
        self.config = config


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    """Config shared by all operators.

    Attributes:
      stochastic: whether the operator draws random numbers. Stochastic operators get one key
        per record derived from ``(seed, stream_name, epoch, record id)``, so a record gets the
        same augmentation whatever the batch size, shard count or order.
      stream_name: name of the ``nnx.Rngs`` stream that seeds the operator; required when
        ``stochastic`` is true.
    """

    stochastic: bool = False
    stream_name: str | None = None

    def __post_init__(self):
        check_bool("stochastic", self.stochastic)
        if self.stochastic and not self.stream_name:
            raise ValueError(
                "a stochastic operator needs a stream_name (e.g. stream_name='augment'), "
                f"got {self.stream_name!r}"
            )
        if self.stream_name is not None and not isinstance(self.stream_name, str):
            raise TypeError(f"stream_name must be a string, got {self.stream_name!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StructuralConfig:
    """Base of the configs of structural modules (sources, samplers, host stages); their
    values are static for compilation."""


def fmix32(x: jax.Array) -> jax.Array:
    """murmur3's 32-bit finaliser: a bijective avalanche on uint32 (wrapping arithmetic)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def _stream_salt(stream_name: str) -> int:
    return zlib.crc32(stream_name.encode()) & 0x7FFFFFFF


def _host_fmix32(x: np.ndarray) -> np.ndarray:
    """:func:`fmix32` in NumPy, for keys derived while building (no XLA compilation)."""
    x = np.array(x, np.uint32)
    with np.errstate(over="ignore"):
        x ^= x >> 16
        x *= np.uint32(0x85EBCA6B)
        x ^= x >> 13
        x *= np.uint32(0xC2B2AE35)
        return x ^ (x >> 16)


def _stream_of(rngs: nnx.Rngs, name: str):
    return rngs[name] if name in rngs else rngs.default


def _draw_base_key(rngs: nnx.Rngs, name: str) -> np.ndarray:
    """An operator's base key words: the stream's key mixed with its draw count and the stream
    name's salt, the count advanced as ``rngs[name]()`` would. Computed on the host: an eager
    ``fold_in`` costs a threefry compilation (0.2-0.4 s) at the first operator built."""
    stream = _stream_of(rngs, name)
    count = stream.count[...]
    stream.count.set_value(np.asarray(int(count) + 1, count.dtype))
    words = np.asarray(jax.random.key_data(stream.key[...]), np.uint32)
    draw = _host_fmix32(np.uint32(int(count)) ^ np.uint32(_stream_salt(name)) ^ np.uint32(0x85EBCA77))
    return _host_fmix32(words ^ draw)  # raw uint32 words: a plain, checkpointable array


class OperatorModule(DataraxModule, Stage):
    """A transformation of batch values: a stage traced into the pipeline's compiled step.

    Subclasses implement :meth:`apply_batch` on a whole batch (every leaf has the batch as its
    leading axis). Stochastic operators call :meth:`record_keys` for one PRNG key per record.
    Operators may hold ``nnx.Param``s; the pipeline reads them at every batch, so they can be
    trained with ``nnx.grad`` between batches.

    ``rngs`` is required exactly when the config is stochastic. There is no default seed: two
    operators seeded alike on one stream draw the same keys (two flips would flip the same
    records), so each stochastic operator is seeded where it is built, as Grain asks a seed of
    every random map; a deterministic operator given ``rngs`` fails rather than ignore them.
    """

    placement = Placement.STEP

    def __init__(self, config: OperatorConfig, *, rngs: nnx.Rngs | None = None):
        if not isinstance(config, OperatorConfig):
            raise TypeError(f"config must be an OperatorConfig, got {type(config).__name__}")
        super().__init__(config)
        if not config.stochastic:
            if rngs is not None:
                raise ValueError(f"{type(self).__name__} is deterministic (stochastic=False) and draws no random "
                                 "numbers: drop rngs=, or set stochastic=True with a stream_name")
            return
        if rngs is None:
            raise ValueError(f"{type(self).__name__} is stochastic and needs rngs=nnx.Rngs(seed)")
        self.base_key = RecordKey(_draw_base_key(rngs, config.stream_name))
        self.key_impl = str(jax.random.key_impl(_stream_of(rngs, config.stream_name).key[...]))

    @property
    def stochastic(self) -> bool:
        return self.config.stochastic

    def record_keys(self, record_ids: jax.Array, epoch: jax.Array) -> jax.Array:
        """One key per record, a pure function of (seed, stream, epoch, record id).

        Each word of the key is ``fmix32(record_id ^ fmix32(epoch ^ base_word))``: distinct
        records get distinct keys (fmix32 is a bijection), and no threefry is traced here; a
        threefry instance costs about a second of XLA compile time on the CPU.
        """
        base = self.base_key[...]
        epoch_words = fmix32(jnp.asarray(epoch, jnp.uint32) ^ base ^ jnp.uint32(0x9E3779B9))
        words = fmix32(record_ids.astype(jnp.uint32)[:, None] ^ epoch_words[None, :])
        return jax.random.wrap_key_data(words, impl=self.key_impl)


class StructuralModule(DataraxModule):
    """Organises data without learnable parameters (sources, samplers, host stages)."""

    def __init__(self, config: StructuralConfig):
        if not isinstance(config, StructuralConfig):
            raise TypeError(f"config must be a StructuralConfig, got {type(config).__name__}")
        super().__init__(config)
