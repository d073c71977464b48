import time

import numpy as np
import pytest

import scenarios.reference.audio as reference_audio
from adapters import load_adapter
from adapters.numpy_adapter import NumpyAdapter
from datarax.operators.audio import mel_filterbank
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("MM-2")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("mm2")


def test_generation_is_seeded_and_fast():
    small = SCENARIO.variant("small")
    start = time.perf_counter()
    data = SCENARIO.generate(small, 0)
    assert time.perf_counter() - start < 10
    assert data["audio"].shape == (1024, 16000) and data["audio"].dtype == np.float32
    assert data["audio"].tobytes() == SCENARIO.generate(small, 0)["audio"].tobytes()
    assert data["tokens"].tobytes() != SCENARIO.generate(small, 1)["tokens"].tobytes()


def test_the_engine_filterbank_matches_the_reference_triangles():
    engine = mel_filterbank(16000, 400, 80, 0.0, 8000.0)
    reference = reference_audio.mel_weights(16000, 400, 80, 0.0, 8000.0)
    np.testing.assert_allclose(engine, reference.T, atol=1e-6)
    assert engine.shape == (201, 80) and (engine.max(axis=0) > 0.2).all()  # every band covers some bin


def test_log_mel_has_one_frame_per_hop():
    shapes = {f.name: f.shape for f in SCENARIO.output_fields(SCENARIO.variant("large"))}
    assert shapes["log_mel"] == (1 + (32000 - 400) // 160, 80) and "audio" not in shapes


@pytest.mark.parametrize("variant", ["small", "small-logmel"])
@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant(root, adapter, variant):
    assert first_problem(load_adapter(adapter), job_for("MM-2", variant, root)) is None


def test_a_fixed_window_is_caught(root, monkeypatch):
    monkeypatch.setattr(reference_audio, "window_offsets", lambda rng, count, samples, length: np.zeros(count, np.int32))
    assert "not a uniform random window" in first_problem(NumpyAdapter(), job_for("MM-2", "small", root))


@pytest.mark.parametrize(
    "variant, adapter, message",
    [
        ("small", WrongTransforms(lambda ts: tuple(t for t in ts if t.name != "zscore")), "field 'audio' differs"),
        ("small", Rewrite(lambda b: {**b, "audio_offset": b["audio_offset"] + 1}), "field 'audio' differs"),
        ("small", Rewrite(lambda b: {**b, "tokens": b["tokens"][::-1]}), "field 'tokens' differs"),
        ("small-logmel", WrongTransforms(replace_param("log_mel", "hop_length", 200)), "shape"),
        ("small-logmel", WrongTransforms(replace_param("log_mel", "f_max", 7000.0)), "field 'log_mel' differs"),
    ],
)
def test_wrong_adapters_are_caught(root, variant, adapter, message):
    assert message in first_problem(adapter, job_for("MM-2", variant, root))
