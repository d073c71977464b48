"""Baselines: written only on request, named by profile and machine class, with their commit."""

import dataclasses
import json

import pytest

from bench.baseline import BASELINES_ROOT, baseline_path, list_baselines, machine_class, resolve_baseline, update_baseline
from bench.cli import main
from bench.compare import ResultsError, load_results, min_repetitions, repetition_throughput
from bench.profile import load_profile
from tests.bench.gate_plugins import sleep_run


def _at_commit(run, commit):
    return dataclasses.replace(run, meta={**run.meta, "git_commit": commit})


def test_update_writes_profile_and_machine_class_with_the_commit(tmp_path):
    run = _at_commit(load_results(sleep_run(1.0)), "0123abcd")
    path = update_baseline(run, tmp_path)
    assert path == tmp_path / "ci_cpu" / f"{machine_class(run.meta['machine'])}.jsonl"
    assert path.stem.endswith(run.meta["machine"]["fingerprint"])
    meta = json.loads(path.with_suffix(".meta.json").read_text())
    assert meta["git_commit"] == "0123abcd" and meta["source_run"] == run.label
    assert meta["profile_settings"]["repetitions"] == 10
    again = load_results(path)
    assert again.records.keys() == run.records.keys() and again.commit == "0123abcd"
    assert [p for p, _ in list_baselines(tmp_path)] == [path]


def test_a_dirty_or_unknown_commit_needs_allow_dirty(tmp_path):
    for commit in ("abc-dirty", "unknown"):
        run = _at_commit(load_results(sleep_run(1.0)), commit)
        with pytest.raises(ResultsError, match="--allow-dirty"):
            update_baseline(run, tmp_path)
        assert update_baseline(run, tmp_path, allow_dirty=True).is_file()


def test_resolving_a_folder_prefers_this_machine_and_never_guesses_in_absolute_mode(tmp_path):
    run = load_results(sleep_run(1.0))
    other = tmp_path / "ci_cpu" / "arm64-8cpu-32gib-feedbeef.jsonl"
    other.parent.mkdir(parents=True)
    other.write_text((sleep_run(1.0) / "results.jsonl").read_text())
    path, note = resolve_baseline(tmp_path, run, "relative")
    assert path == other and "no baseline for this machine class" in note
    with pytest.raises(ResultsError, match="arm64-8cpu-32gib-feedbeef.jsonl"):
        resolve_baseline(tmp_path, run, "absolute")
    own = update_baseline(_at_commit(run, "0123abcd"), tmp_path)
    assert resolve_baseline(tmp_path / "ci_cpu", run, "absolute") == (own, None)
    assert baseline_path(run, tmp_path) == own


def test_baseline_commands(tmp_path, capsys):
    assert main(["baseline", "update", "--from", str(sleep_run(1.0)), "--root", str(tmp_path), "--allow-dirty"]) == 0
    assert main(["baseline", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ci_cpu/" in out and "commit" in out
    assert main(["baseline", "update", "--from", str(tmp_path / "missing"), "--root", str(tmp_path)]) == 2


def test_the_committed_ci_cpu_baseline_can_gate():
    found = [(path, meta) for path, meta in list_baselines(BASELINES_ROOT) if path.parent.name == "ci_cpu"]
    assert found, "no committed ci_cpu baseline under results/baselines/ci_cpu"
    gate = load_profile("ci_cpu").gate
    for path, meta in found:
        baseline = load_results(path)
        assert meta["git_commit"] and meta["source_run"] and meta["machine"]["fingerprint"] in path.stem
        adapters = {key[2] for key, r in baseline.records.items() if r["status"] == "ok"}
        assert {gate.reference, *gate.targets} <= adapters
        for record in baseline.records.values():
            if record["status"] == "ok":
                assert len(repetition_throughput(record)) >= min_repetitions(gate.p_threshold)
