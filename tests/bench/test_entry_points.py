"""Third-party adapters found through the ``datarax_bench.adapters`` entry-point group, for real:
a distribution's metadata on the path of the parent (listing, planning) and the cell (loading)."""

import os

from adapters import adapter_origins
from bench.cli import main
from bench.profile import load_profile
from bench.runner import run_profile
from bench.store import load_records


def _install_plugin_distribution(folder):
    dist = folder / "datarax_bench_testplugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: datarax-bench-testplugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[datarax_bench.adapters]\n"
        "sleepy = tests.bench.plugins:SleepAdapter\n"
        "missing-lib = tests.bench.plugins:UnavailableAdapter\n"
    )


def test_entry_point_adapters_are_listed_and_run_in_the_cell(tmp_path, monkeypatch, capsys):
    _install_plugin_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # the parent sees the distribution...
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))

    origins = adapter_origins()
    assert origins["sleepy"] == ("tests.bench.plugins:SleepAdapter", "entry point from datarax-bench-testplugins")
    assert origins["numpy"][1] == "built-in"
    assert main(["list", "adapters"]) == 0
    listing = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "available" in listing["sleepy"] and "datarax-bench-testplugins" in listing["sleepy"]
    assert "unavailable: library 'nothing' is not installed" in listing["missing-lib"]

    profile = load_profile("ci_cpu").with_overrides(
        adapters=("sleepy", "missing-lib"), warmup_batches=1, batches=3, repetitions=1,
    )
    profile = profile.with_overrides(cells=tuple(c for c in profile.cells if c.scenario == "CV-1"))
    run_dir = run_profile(profile, tmp_path / "runs")  # ...and so does the cell, by name only
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems
    assert [(r["adapter"], r["status"]) for r in records] == [("sleepy", "ok"), ("missing-lib", "unavailable")]
