import pytest

from bench.profile import ProfileError, load_profile, shipped_profiles


def _write(tmp_path, text):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return str(path)


BASE = """
description = "x"
backend = "cpu"
cpu_budget = 2
warmup_batches = 1
batches = 4
repetitions = 2
timeout_s = 60
seed = 0
adapters = ["numpy"]
[[cells]]
scenario = "CV-1"
variants = ["small"]
"""


def test_ci_cpu_is_shipped_and_valid():
    assert "ci_cpu" in shipped_profiles()
    profile = load_profile("ci_cpu")
    assert profile.cpu_budget == 2 and "datarax" in profile.adapters


def test_user_profile_by_path(tmp_path):
    profile = load_profile(_write(tmp_path, BASE))
    assert profile.name == "p" and profile.batches == 4


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda t: "batchez = 3\n" + t, ["batchez", "unknown"]),
        (lambda t: t + "\nbatchez = 3\n", ["batchez", "cells[0]"]),
        (lambda t: t.replace("batches = 4", 'batches = "four"'), ["batches", "int"]),
        (lambda t: t.replace('backend = "cpu"', 'backend = "quantum"'), ["quantum", "cpu, gpu, tpu"]),
        (lambda t: t.replace("seed = 0\n", ""), ["missing", "seed"]),
        (lambda t: t + "\n[[cells]]\nscenario = 'CV-1'\n", ["cells[1]"]),
        (lambda t: t.replace("cpu_budget = 2", "cpu_budget = true"), ["cpu_budget"]),
        (lambda t: t + "\n=\n", ["not valid TOML"]),
    ],
)
def test_bad_profiles_name_the_file_and_key(tmp_path, edit, words):
    path = _write(tmp_path, edit(BASE))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    for word in [path, *words]:
        assert word in str(info.value)


def test_missing_file_and_unknown_name():
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("/nonexistent/p.toml")
    with pytest.raises(ProfileError, match="ci_cpu"):
        load_profile("nope")
