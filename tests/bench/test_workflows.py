"""The benchmark workflows: actionlint-clean, and every datarax-bench call they make parses."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.cli import build_parser

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
OURS = ("benchmark-gate.yml", "nightly.yml")


def _load(name):
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_actionlint_passes():
    venv_bin = str(Path(sys.executable).parent)  # the dev extra installs it next to python
    actionlint = shutil.which("actionlint", path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))
    if actionlint is None and sys.platform != "linux":
        pytest.skip("the dev extra ships actionlint for Linux only")
    assert actionlint, "actionlint is missing: install the dev extra (pip install -e '.[dev]')"
    result = subprocess.run([actionlint, *map(str, sorted(WORKFLOWS.glob("*.yml")))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", OURS)
def test_every_datarax_bench_command_is_accepted_by_the_cli(name):
    steps = [s for job in _load(name)["jobs"].values() for s in job["steps"]]
    calls = [line.strip() for s in steps for line in s.get("run", "").splitlines()
             if line.strip().startswith("datarax-bench ")]
    assert calls
    parser = build_parser()
    for call in calls:
        command = re.sub(r"\s*\|\|.*$", "", call).replace('"$run_dir"', "bench-out/run")
        parser.parse_args(shlex.split(command)[1:])  # SystemExit(2) on an unknown flag


def test_the_gate_runs_on_engine_harness_and_adapter_changes_and_reports():
    workflow = _load("benchmark-gate.yml")
    triggers = workflow[True]["pull_request"]["paths"]  # YAML 1.1 reads the key `on` as True
    for folder in ("datarax", "bench", "adapters", "scenarios"):
        assert f"{folder}/**" in triggers
    steps = workflow["jobs"]["gate"]["steps"]
    text = (WORKFLOWS / "benchmark-gate.yml").read_text()
    assert "--profile ci_cpu" in (Path(__file__).resolve().parents[2] / "scripts" / "bench").read_text()
    assert 'datarax-bench ab --base "origin/${{ github.base_ref }}" --profile ci_cpu' in text
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the base commit must be there to check out
    assert any("upload-artifact" in s.get("uses", "") for s in steps)
    assert any("github-script" in s.get("uses", "") and "gate.md" in s["with"]["script"] for s in steps)
    assert "<!-- datarax-bench-gate -->" in text  # the marker render_markdown writes
    nightly = (WORKFLOWS / "nightly.yml").read_text()
    assert "--profile cpu_full" in nightly and "export wandb" in nightly
    assert _load("nightly.yml")[True]["schedule"]
