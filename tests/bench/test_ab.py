"""ab: base and head interleaved on one machine, the profile read from the base commit."""

import subprocess

import pytest

from bench.ab import base_profile, checkout_base, gate_ab
from bench.cli import main
from bench.compare import load_results
from bench.isolation import PROJECT_ROOT
from bench.profile import GateConfig
from tests.bench.gate_plugins import SLOWDOWN_ENV, TARGET, sleep_profile


@pytest.fixture(scope="module")
def base_root(tmp_path_factory):
    root = checkout_base("HEAD", tmp_path_factory.mktemp("ab") / "base-src")
    yield root
    subprocess.run(["git", "worktree", "remove", "--force", str(root)], cwd=PROJECT_ROOT, check=False)


def test_the_profile_comes_from_the_base_commit(base_root):
    profile = base_profile(base_root, "ci_cpu")
    assert profile.name == "ci_cpu" and profile.gate.targets == ("datarax",)


def test_a_slower_head_is_caught_interleaved_and_confirmed(base_root, tmp_path):
    profile = sleep_profile().with_overrides(gate=GateConfig(
        mode="absolute", targets=(TARGET,), p_threshold=0.05, replicates=4, confirm_runs=1))
    report = gate_ab(profile, base_root, tmp_path, envs={"head": {SLOWDOWN_ENV: "1.25"}})
    (cmp,) = report.comparisons
    assert cmp.verdict == "regression" and cmp.n == (4, 4), cmp
    assert "confirmed by 1 fresh A/B re-run" in cmp.reason
    base = load_results(tmp_path / "ab" / "base" / next((tmp_path / "ab" / "base").iterdir()).name)
    assert base.commit.startswith(subprocess.run(["git", "rev-parse", "HEAD"], cwd=base_root, capture_output=True,
                                                 text=True).stdout.strip())


def test_a_base_that_does_not_exist_is_bad_input(tmp_path, capsys):
    assert main(["ab", "--base", "no-such-ref-xyz", "--output", str(tmp_path)]) == 2
    assert "no-such-ref-xyz" in capsys.readouterr().out
