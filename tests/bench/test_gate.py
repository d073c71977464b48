"""gate: exit 1 only on a confirmed regression, never a silent pass, a Markdown verdict."""

import dataclasses
import itertools
import json
import shutil

import pytest

from bench.cli import main
from bench.compare import REGRESSION, load_results, min_repetitions
from bench.gate import EXIT_UNDECIDED, MARKER, gate_config, run_gate
from bench.profile import GateConfig, ProfileError, load_profile
from tests.bench.gate_plugins import REFERENCE, SLOWDOWN_ENV, TARGET, sleep_run


def _gate(run, baseline, *extra):
    return main(["gate", "--baseline", str(baseline / "results.jsonl"), str(run), *extra])


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_25_percent_slower_fails_and_3_percent_passes(mode, tmp_path, monkeypatch):
    baseline = sleep_run(1.0)
    run = tmp_path / "run"
    shutil.copytree(sleep_run(1.25), run)
    md = tmp_path / "verdict.md"
    monkeypatch.setenv(SLOWDOWN_ENV, "1.25")  # the confirmation re-run is slow too
    assert _gate(run, baseline, "--mode", mode, "--markdown", str(md)) == 1
    text = md.read_text()
    assert text.startswith(MARKER) and "❌ regression" in text and "**regression" in text
    assert "confirmed by 1 re-run(s)" in text
    verdict = json.loads((run / "gate.json").read_text())
    assert verdict["outcome"] == "regression" and verdict["config"]["mode"] == mode
    (rerun,) = (run / "confirmations").iterdir()
    assert {r["adapter"] for r in map(json.loads, (rerun / "results.jsonl").read_text().splitlines())} == (
        {TARGET, REFERENCE} if mode == "relative" else {TARGET})
    monkeypatch.delenv(SLOWDOWN_ENV)
    assert _gate(sleep_run(1.03), baseline, "--mode", mode) == 0
    assert "✅ pass" in (sleep_run(1.03) / "gate.md").read_text()


def test_a_slowdown_that_does_not_reproduce_is_not_confirmed(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sleep_run(1.25), run)  # re-runs happen at full speed: a transient slowdown
    assert _gate(run, sleep_run(1.0)) == 0
    text = (run / "gate.md").read_text()
    assert "✅ pass" in text and "not reproduced: 0 of 1 re-run(s) agreed" in text
    assert _gate(run, sleep_run(1.0), "--confirm", "0") == 1  # the run alone would have failed


def test_a_a_relative_gate_passes_ten_of_ten_trials():
    """Every pair of five runs of the same code: ten A/A comparisons, none a regression."""
    runs = [load_results(sleep_run(1.0, trial)) for trial in range(5)]
    outcomes = []
    for baseline, run in itertools.combinations(runs, 2):
        report = run_gate(run, baseline, gate_config(run))
        outcomes.append(report.outcome)
        assert report.comparisons and report.comparisons[0].verdict != REGRESSION, report.comparisons
    assert outcomes == ["pass"] * 10


def test_missing_baseline_is_an_error_unless_allowed(tmp_path, capsys):
    run = sleep_run(1.0)
    assert _gate(run, tmp_path) == EXIT_UNDECIDED
    assert "no usable baseline" in capsys.readouterr().out
    assert "**no baseline**" in (run / "gate.md").read_text()
    assert _gate(run, tmp_path, "--allow-missing") == 0
    assert "allowed by --allow-missing" in (run / "gate.md").read_text()


def test_incomparable_or_too_few_repetitions_is_undecided(tmp_path):
    run = load_results(sleep_run(1.0))
    config = gate_config(run, mode="absolute")
    moved = {k: {**r, "machine_fingerprint": "other"} for k, r in run.records.items()}
    report = run_gate(run, dataclasses.replace(run, records=moved), config)
    assert report.outcome == "undecided" and report.exit_code == EXIT_UNDECIDED
    assert "machine fingerprint" in report.comparisons[0].reason
    short = {k: {**r, "metrics": {**r["metrics"], "elements_per_s_by_repetition": r["metrics"]["elements_per_s_by_repetition"][:5]}}
             for k, r in run.records.items()}
    short = dataclasses.replace(run, records=short)
    report = run_gate(short, short, config, allow_missing=True)
    assert report.comparisons[0].verdict == "unreliable" and report.exit_code == 0


def test_a_target_that_fails_now_fails_the_gate(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sleep_run(1.0), run)
    lines = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    for r in lines:
        if r["adapter"] == TARGET:
            r.update(status="failed", reason="Boom: the engine crashed", metrics=None, samples=None)
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert _gate(run, sleep_run(1.0)) == 1
    assert "the engine crashed" in (run / "gate.md").read_text()


def test_settings_come_from_the_profile_and_the_command_line(tmp_path):
    run = load_results(sleep_run(1.0))
    assert gate_config(run).targets == (TARGET,)
    assert gate_config(run, p_threshold=0.01, mode="absolute").p_threshold == 0.01
    with pytest.raises(ProfileError, match="cannot also be a target"):
        gate_config(run, reference=TARGET)
    gate = load_profile("ci_cpu").gate
    assert gate == GateConfig(reference="grain", p_threshold=0.01, replicates=5)  # datarax ÷ Grain of the same run
    assert gate.replicates >= min_repetitions(gate.p_threshold)  # else the threshold is out of reach
    bad = tmp_path / "bad.toml"
    text = (sleep_run(1.0) / "run.json").read_text()
    assert '"p_threshold": 0.002' in text
    bad.write_text(
        'description = "x"\nbackend = "cpu"\ncpu_budget = 1\nwarmup_batches = 1\nbatches = 4\n'
        'repetitions = 7\ntimeout_s = 10\nseed = 0\nadapters = ["datarax"]\n'
        '[[cells]]\nscenario = "CV-1"\nvariants = ["small"]\n[gate]\nmode = "sideways"\n'
    )
    with pytest.raises(ProfileError, match="sideways.*valid: relative, absolute"):
        load_profile(str(bad))


def test_processes_are_the_samples_when_a_cell_ran_in_several(tmp_path, monkeypatch):
    """Four processes per side, absolute mode: a 25 % slower target is judged on the four
    processes' sustained rates (one sample each), not on one process's windows."""
    from bench.runner import run_profile
    from tests.bench.gate_plugins import sleep_profile

    profile = sleep_profile().with_overrides(
        adapters=(TARGET,), replicates=4,
        gate=GateConfig(mode="absolute", targets=(TARGET,), p_threshold=0.05, confirm_runs=0))
    runs = {}
    for factor in (1.0, 1.25):
        monkeypatch.setenv(SLOWDOWN_ENV, repr(factor))
        runs[factor] = load_results(run_profile(profile, tmp_path / str(factor)))
    (key,) = runs[1.0].replicates
    assert [r["replicate"] for r in runs[1.0].processes(key)] == [0, 1, 2, 3]
    report = run_gate(runs[1.25], runs[1.0], gate_config(runs[1.25]))
    (cmp,) = report.comparisons
    assert cmp.verdict == REGRESSION and cmp.n == (4, 4) and not cmp.reason, cmp
    assert report.exit_code == 1


def test_a_confirmation_that_cannot_judge_makes_the_gate_undecided(tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(sleep_run(1.25), run)
    monkeypatch.setenv(SLOWDOWN_ENV, "not-a-number")  # the re-run's target cell fails
    assert _gate(run, sleep_run(1.0)) == EXIT_UNDECIDED
    assert "a re-run could not judge it" in (run / "gate.md").read_text()


def test_an_error_inside_the_gate_exits_2_not_1(tmp_path, monkeypatch, capsys):
    import bench.gate

    def broken(*args, **kwargs):
        raise RuntimeError("gate internals broke")

    monkeypatch.setattr(bench.gate, "run_gate", broken)
    assert _gate(sleep_run(1.0), sleep_run(1.0)) == 2
    assert "gate internals broke" in capsys.readouterr().out
