import subprocess
import sys

import pytest

from bench.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True)


def test_unknown_profile_exits_2_and_lists_valid_profiles(capsys):
    assert main(["run", "--profile", "nope"]) == 2
    out = capsys.readouterr().out
    assert "nope" in out and "ci_cpu" in out


def test_unknown_adapter_exits_2_and_lists_valid_adapters(capsys):
    assert main(["run", "--profile", "ci_cpu", "--adapters", "nope"]) == 2
    out = capsys.readouterr().out
    assert "nope" in out and "datarax" in out and "numpy" in out


def test_unknown_scenario_exits_2(capsys):
    assert main(["run", "--profile", "ci_cpu", "--scenarios", "XX-1"]) == 2
    assert "CV-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--help"], ["run", "list"]),
        (
            ["run", "--help"],
            ["--profile", "--scenarios", "--adapters", "--repetitions", "--batches", "--warmup", "--timeout", "--output"],
        ),
    ],
)
def test_help_describes_every_option(args, words):
    result = _run(*args)
    assert result.returncode == 0
    for word in words:
        assert word in result.stdout


def test_bad_override_value_is_named(capsys):
    assert main(["run", "--profile", "ci_cpu", "--repetitions", "0"]) == 2
    assert "repetitions" in capsys.readouterr().out


def test_list_commands(capsys):
    for what in ("profiles", "scenarios", "adapters"):
        assert main(["list", what]) == 0
    out = capsys.readouterr().out
    assert "ci_cpu" in out and "CV-1" in out and "numpy" in out and "available" in out
