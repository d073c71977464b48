import pytest

from bench.profile import ProfileError, load_profile, profile_from_dict, shipped_profiles
from bench.runner import plan


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
        (lambda t: "memory_limit_mb = 1.5\n" + t, ["memory_limit_mb", "int"]),
        (lambda t: "memory_limit_mb = 0\n" + t, ["memory_limit_mb", ">= 1"]),
        (lambda t: "min_window_s = -0.5\n" + t, ["min_window_s", "[0, 60]", "-0.5"]),
        (lambda t: 'delivery = "gpu"\n' + t, ["delivery", "'gpu'", "valid: device, host"]),
        (lambda t: "delivery = true\n" + t, ["delivery", "must be str"]),
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


@pytest.mark.parametrize("name", shipped_profiles())
def test_every_shipped_profile_plans_and_round_trips_through_run_json(name):
    profile = load_profile(name)
    assert plan(profile)  # every scenario, variant and adapter it names exists
    assert profile_from_dict(profile.to_dict(), "run.json") == profile


def test_memory_limit_is_optional_and_overridable(tmp_path):
    profile = load_profile(_write(tmp_path, BASE))
    assert profile.memory_limit_mb is None and "memory_limit_mb" not in profile.to_dict()
    limited = load_profile(_write(tmp_path, "memory_limit_mb = 512\n" + BASE))
    assert limited.memory_limit_mb == 512
    assert profile_from_dict(limited.to_dict(), "run.json").memory_limit_mb == 512
    with pytest.raises(ProfileError, match="memory_limit_mb"):
        profile.with_overrides(memory_limit_mb=-1)


def test_delivery_defaults_to_device_is_explicit_in_every_shipped_profile_and_legacy_runs_read_host(tmp_path):
    from importlib import resources

    assert load_profile(_write(tmp_path, BASE)).delivery == "device"
    host = load_profile(_write(tmp_path, 'delivery = "host"\n' + BASE))
    assert host.delivery == "host" and profile_from_dict(host.to_dict(), "run.json").delivery == "host"
    for name in shipped_profiles():
        text = resources.files("bench.profiles").joinpath(f"{name}.toml").read_text()
        assert '\ndelivery = "device"\n' in text, name
    stored = load_profile("ci_cpu").to_dict()
    del stored["delivery"]  # a run.json written before the key existed was timed to host arrays
    assert profile_from_dict(stored, "run.json").delivery == "host"
    with pytest.raises(ProfileError, match="valid: device, host"):
        load_profile("ci_cpu").with_overrides(delivery="hbm")
