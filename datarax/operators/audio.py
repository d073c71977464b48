"""Audio operators on mono waveforms ``[T]`` per record: a random window crop, and log-mel
spectrograms (framing → periodic Hann window → rfft power → HTK mel filterbank → log)."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from datarax.core.config import check_field, check_int, check_number
from datarax.operators.element import FieldConfig, RecordOperator, require_stochastic


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomWindowConfig(FieldConfig):
    """A uniformly placed window of ``length`` samples; its start goes to ``offset_field``
    (int32), so a consumer (or a conformance check) knows which part of the clip it got."""

    stochastic: bool = True
    stream_name: str | None = "random_window"
    length: int
    offset_field: str = "audio_offset"

    def __post_init__(self):
        super().__post_init__()
        require_stochastic(self)
        check_int("length", self.length, minimum=1)
        check_field("offset_field", self.offset_field)


class RandomWindow(RecordOperator):
    def apply_record(self, data, key):
        c = self.config
        clip = data[c.field]
        if clip.shape[0] < c.length:
            raise ValueError(f"RandomWindow: length {c.length} exceeds the clip's {clip.shape[0]} samples")
        offset = jax.random.randint(key, (), 0, clip.shape[0] - c.length + 1)
        window = jax.lax.dynamic_slice_in_dim(clip, offset, c.length)
        return {**data, c.field: window, c.offset_field: offset.astype(jnp.int32)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogMelConfig(FieldConfig):
    """``log(mel_power + eps)`` of ``field`` as ``out_field`` ``[frames, n_mels]`` (float32),
    ``frames = 1 + (T - n_fft) // hop_length`` (no padding); the waveform field is dropped."""

    out_field: str = "log_mel"
    sample_rate: int
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None
    eps: float = 1e-6

    def __post_init__(self):
        super().__post_init__()
        check_field("out_field", self.out_field)
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            check_int(name, getattr(self, name), minimum=1)
        check_number("f_min", self.f_min, low=0.0)
        f_max = self.sample_rate / 2 if self.f_max is None else self.f_max
        if not self.f_min < f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2; got f_min={self.f_min}, f_max={self.f_max}")
        check_number("eps", self.eps, low=0.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """``[n_fft // 2 + 1, n_mels]`` triangular HTK-mel weights (no area normalization)."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    edges = 700.0 * (10 ** (np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)[:, None]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


class LogMel(RecordOperator):
    def apply_record(self, data, key):
        c = self.config
        wave = data[c.field].astype(jnp.float32)
        frames = 1 + (wave.shape[0] - c.n_fft) // c.hop_length
        if frames < 1:
            raise ValueError(f"LogMel: {wave.shape[0]} samples are fewer than n_fft={c.n_fft}")
        starts = np.arange(frames)[:, None] * c.hop_length + np.arange(c.n_fft)[None, :]  # static
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(c.n_fft) / c.n_fft)  # periodic Hann
        spectrum = jnp.fft.rfft(wave[starts] * jnp.asarray(window, jnp.float32), axis=-1)
        power = jnp.square(spectrum.real) + jnp.square(spectrum.imag)
        f_max = c.sample_rate / 2 if c.f_max is None else c.f_max
        mel = power @ jnp.asarray(mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, float(c.f_min), float(f_max)))
        out = {k: v for k, v in data.items() if k != c.field}
        return {**out, c.out_field: jnp.log(mel + jnp.float32(c.eps))}
