"""Sequence operators on token arrays ``[L]`` per record.

Sources hold fixed-width token rows (padded with ``pad_value``, optionally with a length
field). ``DynamicPadToBucket`` is a host stage: the width it picks depends on the batch, so it
runs before the compiled step, which is then specialised once per bucket.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from datarax.core.config import check_bool, check_field, check_int
from datarax.core.module import StructuralConfig, StructuralModule
from datarax.core.stage import Placement, Stage
from datarax.operators.element import FieldConfig, RecordOperator


def _check_length_field(value):
    if value is not None:
        check_field("length_field", value)


def _valid_positions(data, field, pad_value, length_field):
    """Per position: True for real tokens (before the length, or not ``pad_value``)."""
    tokens = data[field]
    if length_field is not None:
        return jnp.arange(tokens.shape[0]) < data[length_field]
    return tokens != pad_value


@dataclasses.dataclass(frozen=True, kw_only=True)
class PadToLengthConfig(FieldConfig):
    """Truncates or pads ``field`` to ``length``; with ``length_field``, positions at or past the
    record's length are set to ``pad_value`` too."""

    length: int
    pad_value: int = 0
    length_field: str | None = None

    def __post_init__(self):
        super().__post_init__()
        check_int("length", self.length, minimum=1)
        check_int("pad_value", self.pad_value)
        _check_length_field(self.length_field)


class PadToLength(RecordOperator):
    def apply_record(self, data, key):
        c = self.config
        tokens = data[c.field]
        if c.length_field is not None:
            keep = jnp.arange(tokens.shape[0]) < data[c.length_field]
            tokens = jnp.where(keep, tokens, jnp.asarray(c.pad_value, tokens.dtype))
        tokens = tokens[: c.length]
        tokens = jnp.pad(tokens, (0, c.length - tokens.shape[0]), constant_values=c.pad_value)
        return {**data, c.field: tokens}


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttentionMaskConfig(FieldConfig):
    """Adds ``mask_field``: ``bool[L]`` (real tokens) or, with ``causal``, ``bool[L, L]`` where
    query ``q`` may attend to key ``k`` iff ``k <= q`` and ``k`` is a real token."""

    mask_field: str = "attention_mask"
    pad_value: int = 0
    length_field: str | None = None
    causal: bool = False

    def __post_init__(self):
        super().__post_init__()
        check_field("mask_field", self.mask_field)
        check_int("pad_value", self.pad_value)
        _check_length_field(self.length_field)
        check_bool("causal", self.causal)


class AttentionMask(RecordOperator):
    def apply_record(self, data, key):
        c = self.config
        valid = _valid_positions(data, c.field, c.pad_value, c.length_field)
        if c.causal:
            length = valid.shape[0]
            valid = jnp.tril(jnp.ones((length, length), bool)) & valid[None, :]
        return {**data, c.mask_field: valid}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShiftTokensConfig(FieldConfig):
    """Next-token pairs from windows ``[L+1]``: ``inputs = w[:-1]``, ``targets = w[1:]``."""

    inputs_field: str = "inputs"
    targets_field: str = "targets"
    keep_source: bool = False

    def __post_init__(self):
        super().__post_init__()
        check_field("inputs_field", self.inputs_field)
        check_field("targets_field", self.targets_field)
        check_bool("keep_source", self.keep_source)


class ShiftTokens(RecordOperator):
    def apply_record(self, data, key):
        c = self.config
        window = data[c.field]
        out = {k: v for k, v in data.items() if c.keep_source or k != c.field}
        return {**out, c.inputs_field: window[:-1], c.targets_field: window[1:]}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DynamicPadToBucketConfig(StructuralConfig):
    """Cuts (or pads) ``field`` of a whole batch to the smallest of ``buckets`` that holds its
    longest record; longer records are truncated to the largest bucket."""

    field: str
    buckets: tuple[int, ...]
    pad_value: int = 0
    length_field: str | None = None

    def __post_init__(self):
        check_field("field", self.field)
        if not self.buckets or any(not isinstance(b, int) or b <= 0 for b in self.buckets) or list(
            self.buckets
        ) != sorted(set(self.buckets)):
            raise ValueError(f"buckets must be increasing positive ints, got {self.buckets!r}")
        check_int("pad_value", self.pad_value)
        _check_length_field(self.length_field)


class DynamicPadToBucket(StructuralModule, Stage):
    """A host stage: its output width depends on the batch, so it runs before the compiled step
    (specialised once per bucket) and the pipeline never gathers several batches through it."""

    placement = Placement.HOST
    batch_dependent = True

    def apply_batch(self, batch, record_ids, epoch):
        c = self.config
        tokens = batch[c.field]
        if c.length_field is not None:
            lengths = np.asarray(batch[c.length_field])
        else:
            real = tokens != c.pad_value
            lengths = np.where(real.any(axis=1), tokens.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)
        longest = int(lengths.max(initial=0))
        width = next((b for b in c.buckets if b >= longest), c.buckets[-1])
        out = np.full((tokens.shape[0], width), c.pad_value, tokens.dtype)
        keep = min(width, tokens.shape[1])
        out[:, :keep] = tokens[:, :keep]
        if c.length_field is not None:  # without it, positions past the length are pad already
            out[np.arange(width)[None, :] >= lengths[:, None]] = c.pad_value
        return {**batch, c.field: out}
