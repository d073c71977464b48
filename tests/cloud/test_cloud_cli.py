"""``datarax-bench cloud launch``: the sky command it builds, and that secrets pass by name only."""

import json
import os
import shlex

import pytest

from bench.cli import main
from bench.commands.cloud import REPO_ROOT

SECRET_VALUE = "wandb-key-that-must-not-leak"


def _command_line(out: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if " sky launch " in line]
    return shlex.split(line.split(" && ", 1)[1])


@pytest.mark.parametrize("target", ["cpu", "gpu", "tpu", "multihost"])
def test_dryrun_prints_the_sky_launch_command(target, capsys, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert main(["cloud", "launch", "--target", target, "--bucket", "team-results", "--dryrun"]) == 0
    out = capsys.readouterr().out
    argv = _command_line(out)
    assert argv[:4] == ["sky", "launch", "--cluster", f"datarax-{target}"]
    assert argv[4] == f"sky/{target}.yaml" and (REPO_ROOT / argv[4]).is_file()
    assert "DATARAX_RESULTS_BUCKET=team-results" in argv and "--secret" not in argv
    assert f"cd {REPO_ROOT}" in out and "WANDB_API_KEY" in out  # says the key was not passed


def test_dryrun_passes_the_wandb_key_by_name_never_by_value(capsys, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", SECRET_VALUE)
    assert main(["cloud", "launch", "--target", "gpu", "--gpus", "H100:1", "--profile", "gpu_h100",
                 "--down", "--idle-minutes", "30", "--yes", "--dryrun"]) == 0
    out = capsys.readouterr().out
    argv = _command_line(out)
    assert SECRET_VALUE not in out
    assert argv[argv.index("--secret") + 1] == "WANDB_API_KEY"
    assert argv[argv.index("--gpus") + 1] == "H100:1"
    assert "DATARAX_PROFILE=gpu_h100" in argv and "--down" in argv and "--yes" in argv
    assert argv[argv.index("--idle-minutes-to-autostop") + 1] == "30"


def test_multihost_dryrun_takes_a_gpu_type_and_only_profiles_that_run_across_processes(capsys, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert main(["cloud", "launch", "--target", "multihost", "--gpus", "H100:1", "--profile", "multihost",
                 "--bucket", "team-results", "--dryrun"]) == 0
    argv = _command_line(capsys.readouterr().out)
    assert argv[4] == "sky/multihost.yaml" and argv[argv.index("--gpus") + 1] == "H100:1"
    assert "DATARAX_PROFILE=multihost" in argv and argv[3] == "datarax-multihost"
    assert main(["cloud", "launch", "--target", "multihost", "--profile", "gpu_h100", "--dryrun"]) == 2
    out = capsys.readouterr().out
    assert "gpu_h100" in out and "across processes" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--target", "cpu", "--gpus", "H100:1"], ["--gpus", "gpu"]),
        (["--target", "tpu", "--profile", "cpu_full"], ["cpu_full", "tpu"]),
        (["--target", "gpu", "--profile", "nope"], ["nope", "gpu_a100"]),
        (["--target", "cpu", "--bucket", "Bad_Bucket"], ["Bad_Bucket"]),
    ],
)
def test_bad_requests_exit_2_naming_the_problem(args, words, capsys):
    assert main(["cloud", "launch", *args, "--dryrun"]) == 2
    out = capsys.readouterr().out
    assert all(word in out for word in words), out


def test_unknown_target_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cloud", "launch", "--target", "mainframe"])
    assert exit_info.value.code == 2
    assert "cpu" in capsys.readouterr().err


def test_launch_runs_sky_from_the_repository_with_the_key_in_its_environment_only(tmp_path, monkeypatch, capsys):
    """A stand-in `sky` on PATH records what it was given."""
    record = tmp_path / "sky-call.json"
    fake = tmp_path / "bin" / "sky"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'cwd': os.getcwd(), 'key': os.environ.get('WANDB_API_KEY')}}, "
        f"open({str(record)!r}, 'w'))\nsys.exit(3)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("WANDB_API_KEY", SECRET_VALUE)
    assert main(["cloud", "launch", "--target", "tpu", "--bucket", "team-results"]) == 3  # sky's exit code
    call = json.loads(record.read_text())
    assert call["cwd"] == str(REPO_ROOT) and call["argv"][:2] == ["launch", "--cluster"]
    assert call["key"] == SECRET_VALUE and SECRET_VALUE not in " ".join(call["argv"])
    assert SECRET_VALUE not in capsys.readouterr().out
