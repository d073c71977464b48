"""The machine probe: measured ceilings that are physically plausible, repeat, and are cached."""

import json

import pytest

from bench.cli import main
from bench.datacache import default_cache_root
from bench.isolation import child_env
from bench.probe import TRIALS, cached_ceilings, ceilings_cache_path, measure_ceilings
from bench.store import write_json_atomic

GB = 1e9


@pytest.fixture(scope="module")
def two_probes():
    """Two independent measurements, back to back (each a few seconds)."""
    first, second = measure_ceilings(), measure_ceilings()
    seed = ceilings_cache_path(default_cache_root(), "cpu")
    if not seed.is_file():  # later runs in this test session reuse it instead of probing again
        write_json_atomic(seed, first)
    return first, second


def test_ceilings_are_physically_plausible_with_spread_kept(two_probes):
    for c in two_probes:
        for name in ("copy_1_thread", "copy_all_cpus"):
            figure = c["figures"][name]
            assert 1 * GB <= figure["median"] <= 500 * GB, (name, figure)
            assert len(figure["trials"]) == TRIALS
            assert figure["min"] <= figure["p25"] <= figure["median"] <= figure["p75"] <= figure["max"]
            assert "np.copyto" in figure["how"] and "read + written" in figure["how"]
        assert c["memory_bytes_per_s"] == c["figures"]["copy_all_cpus"]["median"]
        f32 = c["figures"]["matmul_float32"]["median"]
        assert 1e8 <= f32 <= 1e15  # between a slow core and a large accelerator
        assert c["peak_flops_per_s"] >= f32
        assert "median" in c["figures"]["matmul_bfloat16"] or "absent" in c["figures"]["matmul_bfloat16"]
        assert c["backend"] == "cpu" and c["cpus"] >= 1
        # No accelerator here: the host-to-device figure is absent, with the reason.
        assert c["host_to_device_bytes_per_s"] is None
        assert "no accelerator" in c["figures"]["host_to_device"]["absent"]


def test_ceilings_repeat_within_the_spread_the_probes_saw(two_probes):
    """Back-to-back probes agree within 20 % of each other's observed range: on a quiet host that
    is 20 % of the figure; on a shared VM, where a neighbour's load (stolen CPU time) moves a
    memory-bandwidth trial by half, the trials' own spread is the honest tolerance."""
    first, second = two_probes
    for name in ("copy_all_cpus", "copy_1_thread", "matmul_float32"):
        a, b = first["figures"][name], second["figures"][name]
        assert abs(a["median"] - b["median"]) <= 0.2 * max(a["median"], b["median"]) or (
            a["max"] >= b["min"] / 1.2 and b["max"] >= a["min"] / 1.2), (name, a, b)


def test_ceilings_are_cached_per_machine_and_backend(tmp_path, two_probes, monkeypatch):
    path = ceilings_cache_path(tmp_path, "cpu")
    assert path.parent == tmp_path / "probe" and "-cpu-" in path.name
    assert ceilings_cache_path(tmp_path, "gpu") != path
    write_json_atomic(path, two_probes[0])

    def no_subprocess(*args, **kwargs):
        raise AssertionError("a cached probe must not measure again")

    monkeypatch.setattr("bench.probe.subprocess.run", no_subprocess)
    assert cached_ceilings(tmp_path, "cpu", child_env("cpu")) == two_probes[0]


def test_a_probe_that_cannot_finish_names_why(tmp_path):
    with pytest.raises(RuntimeError, match="more than 0.01 s"):
        cached_ceilings(tmp_path, "cpu", child_env("cpu"), timeout_s=0.01)
    assert not ceilings_cache_path(tmp_path, "cpu").exists()


def test_probe_command_prints_the_cached_ceilings(tmp_path, two_probes, capsys):
    write_json_atomic(ceilings_cache_path(tmp_path, "cpu"), two_probes[0])
    assert main(["probe", "--json", "--cache", str(tmp_path)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["ceilings"] == two_probes[0] and facts["cores"] >= 1
    assert main(["probe", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for word in ("copy_all_cpus", "matmul_float32", "GFLOP/s", "GB/s", "7 trials", "no accelerator"):
        assert word in out
