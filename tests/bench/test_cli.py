import json
import subprocess
import sys

import pytest

from bench.cli import main
from bench.profile import load_profile
from bench.store import append_record, write_json_atomic
from tests.bench.records import sample_record


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
        (["--help"], ["run", "list", "show", "probe"]),
        (
            ["run", "--help"],
            ["--profile", "--scenarios", "--adapters", "--adapter-module", "--repetitions", "--batches",
             "--warmup", "--timeout", "--memory-limit-mb", "--output", "--resume"],
        ),
        (["show", "--help"], ["RUN", "--output"]),
        (["probe", "--help"], ["--json"]),
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


@pytest.mark.parametrize(
    "module, words",
    [
        ("no_such_module:Adapter", ["no_such_module", "cannot import"]),
        ("tests.bench.plugins:Nope", ["Nope", "no attribute"]),
        ("tests.bench.plugins:np", ["not an Adapter subclass"]),
        ("tests.bench.plugins", ["package.module:Class"]),
    ],
)
def test_bad_adapter_module_exits_2_naming_it(module, words, capsys):
    assert main(["run", "--profile", "ci_cpu", "--adapter-module", module]) == 2
    out = capsys.readouterr().out
    for word in words:
        assert word in out


def test_show_prints_a_stored_run_its_bad_lines_and_unfinished_cells(tmp_path, capsys):
    run = tmp_path / "20260101T000000Z-abcdef"
    profile = load_profile("ci_cpu")
    cells = [{"scenario": "CV-1", "variant": "small", "adapter": a} for a in ("numpy", "datarax")]
    machine = sample_record()["machine"]
    write_json_atomic(run / "run.json", {"run_id": run.name, "started_at": "2026-01-01T00:00:00+00:00",
                                         "profile": profile.to_dict(), "machine": machine,
                                         "git_commit": "0123456789abcdef", "cells": cells, "resumed": []})
    append_record(run / "results.jsonl", sample_record())
    with open(run / "results.jsonl", "a") as f:
        f.write("{not json\n")
    assert main(["show", run.name, "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for word in ("ci_cpu", f"machine {machine['fingerprint']}", "numpy", "100",
                 "results.jsonl:2", "1 of 2 cells have no record", f"--resume {run.name}"):
        assert word in out
    assert main(["show", "nope", "--output", str(tmp_path)]) == 2
    assert run.name in capsys.readouterr().out


def test_probe_reports_measured_machine_facts(capsys):
    assert main(["probe", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["cores"] >= 1 and facts["ram_bytes"] > 2**28 and facts["usable_cpus"] >= 1
    assert facts["versions"]["numpy"] and facts["jax_devices"]
    assert main(["probe"]) == 0
    assert "cpu_model" in capsys.readouterr().out
