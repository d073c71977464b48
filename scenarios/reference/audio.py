"""NumPy audio transforms over a batch of waveforms ``[B, T]`` (float64 inside, float32 out)."""

from __future__ import annotations

import numpy as np


def window_offsets(rng: np.random.Generator, count: int, samples: int, length: int) -> np.ndarray:
    """``[count]`` uniform window starts in ``[0, samples - length]``."""
    return rng.integers(0, samples - length + 1, size=count).astype(np.int32)


def crop_windows(clips: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    return np.stack([clip[o : o + length] for clip, o in zip(clips, offsets)])


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_weights(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]``: mel band ``m`` rises linearly from edge ``m`` to ``m + 1``
    and falls to ``m + 2`` (HTK mel scale, edges evenly spaced in mel)."""
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    bins = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    weights = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        low, centre, high = edges[m : m + 3]
        up = (bins - low) / (centre - low)
        down = (high - bins) / (high - centre)
        weights[m] = np.clip(np.minimum(up, down), 0.0, None)
    return weights


def log_mel(waves: np.ndarray, *, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
            f_min: float, f_max: float | None, eps: float) -> np.ndarray:
    """``[B, frames, n_mels]`` log mel power: unpadded frames, periodic Hann window, |rfft|²."""
    waves = np.asarray(waves, np.float64)
    frames = 1 + (waves.shape[1] - n_fft) // hop_length
    framed = np.stack([waves[:, f * hop_length : f * hop_length + n_fft] for f in range(frames)], axis=1)
    hann = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))
    power = np.abs(np.fft.rfft(framed * hann, axis=-1)) ** 2
    weights = mel_weights(sample_rate, n_fft, n_mels, f_min, sample_rate / 2 if f_max is None else f_max)
    return np.log(power @ weights.T + eps).astype(np.float32)
