"""Audio scenarios (MM-2): waveforms with their transcript tokens."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference import audio as reference
from scenarios.reference.volume import zscore

_EPS = 1e-6


def _variant(name, records, batch, clip, window, log_mel):
    return Variant(name, records, batch, (("sample_rate", 16000), ("clip", clip), ("window", window),
                                          ("tokens", 32), ("vocab", 32000), ("log_mel", log_mel)))


class AudioTokens(Scenario):
    """MM-2: float32 mono clips (16 kHz; a few tones plus noise) + int32 transcript tokens →
    ``random_window`` (a uniformly placed ``window``-sample crop, start in ``audio_offset``)
    → per-clip z-score; ``large`` and ``small-logmel`` also compute a log-mel spectrogram (n_fft 400,
    hop 160, 80 HTK mel bands, periodic Hann, no padding) → ``log_mel`` ``[frames, 80]``.

    Row-exact: the reference crops each stored clip at the reported offset; the offsets must
    look uniform over the batch (mean within 6 σ), so a fixed crop is caught.
    """

    id = "MM-2"
    name = "audio + tokens"
    category = "multimodal"
    capabilities = frozenset({"exact_reference", "stochastic_per_element"})
    variants = {
        "small": _variant("small", 1024, 32, 16000, 8000, False),
        "small-logmel": _variant("small-logmel", 1024, 32, 16000, 8000, True),
        "medium": _variant("medium", 2048, 32, 48000, 32000, False),
        "large": _variant("large", 2048, 32, 48000, 32000, True),
    }
    mel = {"n_fft": 400, "hop_length": 160, "n_mels": 80, "f_min": 0.0, "f_max": None, "eps": _EPS}

    def input_fields(self, variant):
        return (FieldSpec("audio", (variant.param("clip"),), "float32"),
                FieldSpec("tokens", (variant.param("tokens"),), "int32"), FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        window = variant.param("window")
        if variant.param("log_mel"):
            frames = 1 + (window - self.mel["n_fft"]) // self.mel["hop_length"]
            signal = FieldSpec("log_mel", (frames, self.mel["n_mels"]), "float32")
        else:
            signal = FieldSpec("audio", (window,), "float32")
        return (signal, FieldSpec("audio_offset", (), "int32"), *self.input_fields(variant)[1:])

    def transforms(self, variant):
        steps = (
            Transform.of("random_window", field="audio", length=variant.param("window"), offset_field="audio_offset"),
            Transform.of("zscore", field="audio", eps=_EPS),
        )
        if variant.param("log_mel"):
            steps += (Transform.of("log_mel", field="audio", out_field="log_mel",
                                   sample_rate=variant.param("sample_rate"), **self.mel),)
        return steps

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 42])
        n, clip, rate = variant.num_records, variant.param("clip"), variant.param("sample_rate")
        t = np.arange(clip, dtype=np.float32) / np.float32(rate)
        audio = 0.05 * rng.standard_normal((n, clip), dtype=np.float32)
        for _ in range(3):  # three tones per clip, 80 Hz .. 4 kHz
            freq = rng.uniform(80, 4000, size=(n, 1)).astype(np.float32)
            amp = rng.uniform(0.05, 0.5, size=(n, 1)).astype(np.float32)
            phase = rng.uniform(0, 2 * np.pi, size=(n, 1)).astype(np.float32)
            audio += amp * np.sin(np.float32(2 * np.pi) * freq * t + phase)
        tokens = rng.integers(1, variant.param("vocab"), size=(n, variant.param("tokens")), dtype=np.int32)
        return {"audio": audio, "tokens": tokens, "index": np.arange(n, dtype=np.int32)}

    def check_values(self, variant, batch):
        offsets = np.asarray(batch["audio_offset"]).astype(np.float64)
        span = variant.param("clip") - variant.param("window")
        if offsets.min() < 0 or offsets.max() > span:
            return f"field 'audio_offset' outside [0, {span}]"
        # Uniform starts: the batch mean is within 6 standard errors of span / 2.
        tolerance = 6 * np.sqrt(((span + 1) ** 2 - 1) / 12 / len(offsets))
        if abs(offsets.mean() - span / 2) > tolerance:
            return (f"field 'audio_offset': mean {offsets.mean():.0f}, expected {span / 2:.0f} ± {tolerance:.0f} "
                    "(not a uniform random window?)")
        return None

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        problem = first_mismatch("tokens", batch["tokens"], np.asarray(inputs["tokens"][rows]))
        if problem:
            return problem
        offsets = np.asarray(batch["audio_offset"])
        want = zscore(reference.crop_windows(np.asarray(inputs["audio"][rows]), offsets, variant.param("window")), _EPS)
        if not variant.param("log_mel"):
            return first_mismatch("audio", batch["audio"], want, atol=1e-4, rtol=1e-4)
        want = reference.log_mel(want, sample_rate=variant.param("sample_rate"), **self.mel)
        return first_mismatch("log_mel", batch["log_mel"], want, atol=2e-3, rtol=1e-3)
