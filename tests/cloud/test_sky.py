"""The SkyPilot task files validate offline and name what exists: profiles, extras, scripts."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from bench.profile import load_profile
from tests.cloud.common import ROOT, assert_profiles_shipped, extras, profiles_named

sky = pytest.importorskip("sky", reason="skypilot is in the cloud extra")

TARGETS = ("cpu", "gpu", "tpu", "multihost")
BACKEND = {"cpu": "cpu", "gpu": "gpu", "tpu": "tpu", "multihost": "gpu"}


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # workdir "." is the repository, as when `datarax-bench cloud launch` runs sky


@pytest.mark.parametrize("target", TARGETS)
def test_task_file_validates_offline(target):
    task = sky.Task.from_yaml(str(ROOT / "sky" / f"{target}.yaml"))
    assert task.name == f"datarax-bench-{target}"
    assert task.workdir == "."
    assert "sky/setup.sh" in task.setup and f"sky/{'multihost' if target == 'multihost' else 'run'}.sh" in task.run
    (mount,) = task.storage_mounts.values()
    assert mount.name == "datarax-bench-results"


@pytest.mark.parametrize("target", TARGETS)
def test_bucket_comes_from_the_environment_variable(target):
    config = yaml.safe_load((ROOT / "sky" / f"{target}.yaml").read_text())
    task = sky.Task.from_yaml_config(config, env_overrides=[("DATARAX_RESULTS_BUCKET", "my-team-bucket")])
    (mount,) = task.storage_mounts.values()
    assert mount.name == "my-team-bucket"


@pytest.mark.parametrize("target", TARGETS)
def test_task_names_shipped_profiles_of_its_backend_and_existing_extras(target):
    text = (ROOT / "sky" / f"{target}.yaml").read_text()
    config = yaml.safe_load(text)
    profile = config["envs"]["DATARAX_PROFILE"]
    if target == "gpu":
        assert profile == "auto"
        named = set(re.findall(r"\bprofile=(\w+)", (ROOT / "sky" / "run.sh").read_text())) | profiles_named(text)
        assert named == {"gpu_a100", "gpu_h100"}  # what DATARAX_PROFILE=auto chooses from
    elif target == "multihost":
        named = {profile}
        assert profiles_named(text) == set()  # no other profile named beside it
    else:
        named = profiles_named(text)
        assert named == {profile}
    assert_profiles_shipped(named, BACKEND[target], f"sky/{target}.yaml")
    (setup_line,) = re.findall(r"bash sky/setup\.sh .*", config["setup"])
    wanted = setup_line.split()[2]
    missing = set(wanted.split(",")) - extras()
    assert not missing, f"sky/{target}.yaml installs extras {sorted(missing)} that pyproject.toml lacks"
    assert (target == "cpu") or BACKEND[target] in wanted.split(",")
    for path in re.findall(r" -c (\S+)", setup_line):
        assert (ROOT / path).is_file(), path


def test_accelerators():
    gpu = sky.Task.from_yaml(str(ROOT / "sky" / "gpu.yaml"))
    assert {name for r in gpu.resources for name in r.accelerators} == {"A100", "H100"}
    tpu = sky.Task.from_yaml(str(ROOT / "sky" / "tpu.yaml"))
    (resources,) = tpu.resources
    assert list(resources.accelerators) == ["tpu-v5litepod-8"]


def test_multihost_is_two_gpu_nodes_that_run_dist3_across_them():
    task = sky.Task.from_yaml(str(ROOT / "sky" / "multihost.yaml"))
    assert task.num_nodes == 2
    assert {name for r in task.resources for name in r.accelerators} == {"A100", "H100"}
    script = (ROOT / "sky" / "multihost.sh").read_text()
    for variable in ("SKYPILOT_NODE_IPS", "SKYPILOT_NODE_RANK", "SKYPILOT_NUM_NODES", "DATARAX_COORDINATOR",
                     "DATARAX_PROCESS_ID", "DATARAX_NUM_PROCESSES"):
        assert variable in script, variable
    assert "run.sh" in script
    cells = {(c.scenario, v) for c in load_profile("multihost").cells for v in c.variants}
    assert ("DIST-3", "multihost") in cells


@pytest.mark.parametrize("script", ["setup.sh", "run.sh", "multihost.sh"])
def test_shell_steps_parse(script):
    assert subprocess.run(["bash", "-n", str(ROOT / "sky" / script)]).returncode == 0


def test_run_step_stores_the_run_folder_and_its_report_in_the_bucket(tmp_path):
    """sky/run.sh for real, on a tiny ci_cpu run, with a folder standing in for the bucket."""
    bucket = tmp_path / "bucket"
    env = {**os.environ, "DATARAX_PROFILE": "ci_cpu", "DATARAX_VENV": sys.prefix,
           "DATARAX_RESULTS_DIR": str(bucket), "SKYPILOT_TASK_ID": "test-task", "PYTHONPATH": str(ROOT)}
    env.pop("WANDB_API_KEY", None)
    result = subprocess.run(
        ["bash", str(ROOT / "sky" / "run.sh"), "--scenarios", "CV-1", "--adapters", "numpy",
         "--batches", "3", "--repetitions", "2", "--warmup", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (stored,) = (bucket / "runs").iterdir()
    assert {"results.jsonl", "run.json", "report.html", "report.md"} <= {p.name for p in stored.iterdir()}
    assert (tmp_path / "results" / "sky" / "test-task" / stored.name).is_dir()
