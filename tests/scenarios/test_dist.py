"""DIST-1/DIST-2: batches as global arrays sharded over forced CPU devices.

The pytest process has one CPU device, so the 1-device variant runs here; the multi-device
variants run through the runner, whose cell process gets the scenario's XLA_FLAGS.
"""

import numpy as np
import pytest

from adapters import load_adapter
from bench.measure import NonConformant
from bench.profile import CellSelection, load_profile
from bench.runner import run_profile
from bench.store import load_records
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import first_problem, job_for

FORCE = "--xla_force_host_platform_device_count"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("dist")


def test_variants_ask_for_their_device_count_keeping_other_xla_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", f"--xla_cpu_enable_fast_math=false {FORCE}=3")
    dist1, dist2 = get_scenario("DIST-1"), get_scenario("DIST-2")
    assert dist1.child_env(dist1.variant("small")) == {"XLA_FLAGS": f"--xla_cpu_enable_fast_math=false {FORCE}=8"}
    assert dist1.child_env(dist1.variant("small-2dev"))["XLA_FLAGS"].endswith(f"{FORCE}=2")
    assert dist2.child_env(dist2.variant("large"))["XLA_FLAGS"].endswith(f"{FORCE}=8")
    assert get_scenario("CV-1").child_env(get_scenario("CV-1").variant("small")) == {}


def test_one_device_variant_conforms_in_process_and_reports_its_shards(root):
    loader, job = load_adapter("datarax"), job_for("DIST-1", "small-1dev", root)
    assert first_problem(loader, job) is None
    outcomes = get_scenario("DIST-1").outcomes(loader, job)
    loader.close()
    assert outcomes["devices"] == 1 and outcomes["per_device_shard_shape"] == "256x256"
    assert outcomes["elements_per_s"] > 0 and "speedup_vs_one_device" not in outcomes


def test_unsharded_batches_and_a_wrong_mesh_are_non_conformant(root):
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    scenario, variant = get_scenario("DIST-2"), get_scenario("DIST-2").variant("small")
    with pytest.raises(NonConformant, match="not a global jax.Array"):
        scenario.sharding_outcomes(variant, {"x": np.zeros((256, 256), np.float32)})
    mesh = Mesh(np.asarray(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
    wrong = jax.device_put(np.zeros((256, 256), np.float32), NamedSharding(mesh, PartitionSpec("data")))
    with pytest.raises(NonConformant, match=r"expected mesh \{'data': 4, 'model': 2\}"):
        scenario.sharding_outcomes(variant, {"x": wrong})
    assert "no devices" in load_adapter("numpy").supports(scenario, variant)


def test_the_runner_gives_each_cell_its_forced_devices(tmp_path):
    cells = (CellSelection("DIST-1", ("small",)), CellSelection("DIST-2", ("small-flat",)))
    profile = load_profile("ci_cpu").with_overrides(
        adapters=("datarax",), cells=cells, warmup_batches=1, batches=4, repetitions=1)
    run_dir = run_profile(profile, tmp_path / "runs")
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems
    by_scenario = {r["scenario"]: r for r in records}
    dp, mesh = by_scenario["DIST-1"], by_scenario["DIST-2"]
    assert dp["status"] == "ok" and mesh["status"] == "ok", (dp.get("reason"), mesh.get("reason"))
    assert dp["outcomes"]["devices"] == 8 and dp["outcomes"]["per_device_shard_shape"] == "32x256"
    assert dp["outcomes"]["one_device_elements_per_s"] > 0 and dp["outcomes"]["scaling_efficiency"] > 0
    assert mesh["outcomes"]["mesh"] == "data=4,model=2" and mesh["outcomes"]["batch_split_over"] == "data,model"
    assert mesh["outcomes"]["per_device_shard_shape"] == "32x256" and mesh["outcomes"]["devices"] == 8
