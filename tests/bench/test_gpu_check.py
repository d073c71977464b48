"""scripts/gpu-check: its verdict on a run, its refusals without a GPU, and (on a GPU) the check itself."""

import importlib.machinery
import importlib.util
import json
import subprocess
import sys

import pytest

from bench.profile import load_profile
from bench.store import append_record
from tests.bench.records import sample_record
from tests.cloud.common import ROOT

SCRIPT = ROOT / "scripts" / "gpu-check"
GPU_LOADERS = {"datarax", "numpy", "grain", "tfdata", "torch", "dali", "jax_dataloader"}


def _script():
    loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("gpu_check", loader))
    loader.exec_module(module)
    return module


def _run_dir(tmp_path, statuses, planned=None):
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    cells = [{"scenario": "CV-1", "variant": "small", "adapter": f"a{i}"} for i in range(planned or len(statuses))]
    (run_dir / "run.json").write_text(json.dumps({"cells": cells}))
    for i, status in enumerate(statuses):
        record = sample_record(status, cell_id=f"CV-1/small/a{i}", adapter=f"a{i}")
        if status == "ok":
            record["metrics"]["stall_fraction"] = 0.25
        else:
            record.update(metrics=None, samples=None)
        append_record(run_dir / "results.jsonl", record)
    return run_dir


def test_the_check_profiles_and_the_accelerator_profiles_list_every_gpu_loader():
    for name in ("gpu_check", "gpu_check_medium", "gpu_a100", "gpu_h100", "tpu_v5e"):
        profile = load_profile(name)
        assert set(profile.adapters) == GPU_LOADERS and profile.consumer_step_ms, name
    assert {v for c in load_profile("gpu_check").cells for v in c.variants} == {"small"}
    assert {v for c in load_profile("gpu_check_medium").cells for v in c.variants} == {"medium"}


def test_verdict_passes_unavailable_loaders_and_fails_a_failed_or_missing_cell(tmp_path):
    verdict = _script().verdict
    code, lines = verdict(_run_dir(tmp_path / "a", ["ok", "unavailable", "unsupported"]))
    assert code == 0 and "stall fraction 0.250" in lines[0] and "unavailable" in lines[1]
    assert verdict(_run_dir(tmp_path / "b", ["ok", "failed"]))[0] == 1
    assert verdict(_run_dir(tmp_path / "c", ["ok", "non-conformant"]))[0] == 1
    code, lines = verdict(_run_dir(tmp_path / "d", ["ok"], planned=3))
    assert code == 4 and "2 of 3 planned cells have no record" in lines[-1]


@pytest.fixture(scope="module")
def gpus():
    """``(count, device kind or why there is none)`` as the script sees them."""
    script = _script()
    return script.gpus(script._env())


def test_without_a_gpu_it_stops_before_running_anything(gpus, tmp_path):
    if gpus[0]:
        pytest.skip(f"a GPU is here ({gpus[1]}): test_the_small_gpu_check_passes_on_a_gpu runs the check")
    result = subprocess.run([sys.executable, str(SCRIPT), "small", "--output", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 3 and "JAX sees no GPU" in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())


def test_a_bad_size_is_a_usage_error():
    result = subprocess.run([sys.executable, str(SCRIPT), "huge"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "small" in result.stderr and "medium" in result.stderr


@pytest.mark.gpu
def test_the_small_gpu_check_passes_on_a_gpu(gpus, tmp_path):
    if not gpus[0]:
        pytest.skip(f"no GPU visible to JAX here ({gpus[1]})")
    result = subprocess.run([sys.executable, str(SCRIPT), "small", "--output", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "gpu-check: ok" in result.stdout


def test_run_finds_its_run_folder_and_the_verdict_reads_it(tmp_path):
    """The script's run step on a tiny CPU profile (the GPU one runs above, where there is a GPU)."""
    script = _script()
    profile = tmp_path / "tiny.toml"
    profile.write_text('description = "tiny"\nbackend = "cpu"\ncpu_budget = 1\nwarmup_batches = 1\nbatches = 2\n'
                       'repetitions = 1\ntimeout_s = 120\nseed = 0\nadapters = ["numpy"]\n'
                       '[[cells]]\nscenario = "CV-1"\nvariants = ["small"]\n')
    env = {**script._env(), "JAX_PLATFORMS": "cpu"}
    run_dir, finished = script.run(str(profile), tmp_path / "out", 240, env)
    assert finished and run_dir.parent == tmp_path / "out"
    code, lines = script.verdict(run_dir)
    assert code == 0 and lines[0].startswith("CV-1/small/numpy") and "ok" in lines[0]


def test_list_profiles_shows_each_accelerator_profile_with_its_loaders(capsys):
    from bench.cli import main

    assert main(["list", "profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("gpu_a100", "gpu_h100", "tpu_v5e", "gpu_check"):
        (at,) = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        listed = lines[at + 1].split("adapters:", 1)[1]
        assert {a.strip() for a in listed.split(",")} == GPU_LOADERS, lines[at + 1]
