"""Stall fraction against a simulated training step: zero for a loader faster than the step,
the expected share for a slower one; and the option's validation."""

import pytest

from bench.cli import main
from bench.profile import ProfileError, load_profile
from bench.runner import run_profile
from bench.store import load_records

PLUGINS = "tests.bench.consumer_plugins"


@pytest.fixture(scope="module")
def stalls(tmp_path_factory):
    profile = load_profile("ci_cpu")
    profile = profile.with_overrides(
        adapters=(f"{PLUGINS}:PrefetchingAdapter", f"{PLUGINS}:SlowPrefetchingAdapter"),
        cells=tuple(c for c in profile.cells if c.scenario == "NLP-1"),
        warmup_batches=2, batches=12, repetitions=2, consumer_step_ms=20.0,
    )
    run_dir = run_profile(profile, tmp_path_factory.mktemp("runs"))
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems
    return {r["adapter"].rsplit(":", 1)[-1]: r for r in records}


def test_a_loader_faster_than_the_step_never_stalls_it(stalls):
    r = stalls["PrefetchingAdapter"]
    assert r["status"] == "ok", r["reason"]
    m = r["metrics"]
    assert m["consumer_step_target_s"] == 0.02
    assert m["consumer_step_iterations"] > 0  # calibrated matmuls, not a sleep
    assert 0.01 < m["consumer_step_s"] < 0.04  # near the target (loosely: the machine is shared)
    assert m["stall_fraction"] < 0.1, m
    # The step bounds the rate: one step per consumer_step_s.
    assert m["steps_per_s"] == pytest.approx(1 / m["consumer_step_s"], rel=0.2)
    assert len(m["stall_fraction_by_repetition"]) == 2
    assert m["elements_per_s"] > 64 / 0.004  # the main measurement is separate and unslowed


def test_a_loader_slower_than_the_step_stalls_it_for_the_difference(stalls):
    m = stalls["SlowPrefetchingAdapter"]["metrics"]
    # A batch every 40 ms: 25 steps/s, and the consumer waits 40 ms minus its step per batch.
    assert m["steps_per_s"] == pytest.approx(25, rel=0.2)
    assert m["stall_fraction"] == pytest.approx(1 - m["consumer_step_s"] * 25, abs=0.1)
    # About half with a 20 ms step; loosely, as a shared machine stretches the step.
    assert 0.1 < m["stall_fraction"] < 0.8, m


def test_consumer_step_ms_is_validated(tmp_path, capsys):
    base = load_profile("ci_cpu")
    for bad in (0, -5.0, 120_000):
        with pytest.raises(ProfileError, match="consumer_step_ms"):
            base.with_overrides(consumer_step_ms=bad)
    path = tmp_path / "p.toml"
    path.write_text(
        'description = "x"\nbackend = "cpu"\ncpu_budget = 1\nwarmup_batches = 1\nbatches = 2\n'
        'repetitions = 1\ntimeout_s = 60\nseed = 0\nadapters = ["numpy"]\nconsumer_step_ms = "fast"\n'
        '[[cells]]\nscenario = "NLP-1"\nvariants = ["small"]\n'
    )
    with pytest.raises(ProfileError, match="'consumer_step_ms' must be int/float"):
        load_profile(str(path))
    path.write_text(path.read_text().replace('"fast"', "25"))
    profile = load_profile(str(path))
    assert profile.consumer_step_ms == 25.0 and profile.to_dict()["consumer_step_ms"] == 25.0
    assert main(["run", "--profile", "ci_cpu", "--consumer-step-ms", "-1"]) == 2
    assert "consumer_step_ms" in capsys.readouterr().out


def test_a_batch_sharded_over_devices_is_read_in_place_and_the_step_stays_on_one_device():
    """With 8 forced host devices, the simulated model is the same size for a sharded batch as
    for an unsharded one: its matmuls stay on one device instead of following the batch's
    placement (replicated 8 ways over 2 cores, they needed ~8x fewer iterations)."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from bench.consumer import ConsumerStep
        mesh = Mesh(np.array(jax.devices()), ("data",))
        rows = np.ones((64, 256), np.float32)
        sharded = ConsumerStep.calibrated(0.02, {"x": jax.device_put(rows, NamedSharding(mesh, P("data")))})
        single = ConsumerStep.calibrated(0.02, {"x": jax.device_put(rows, jax.devices()[0])})
        print(len(jax.devices()), sharded.iterations, single.iterations)
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    devices, sharded, single = map(int, out.stdout.split())
    assert devices == 8 and single > 0 and 0.5 <= sharded / single <= 2.0


def test_the_step_is_calibrated_on_and_fed_the_batch_as_delivered(monkeypatch):
    """Device delivery: the step gets the loader's jax.Arrays themselves (no copy hidden in the
    "model step"); host delivery: NumPy arrays, which the step itself must transfer."""
    import jax
    import numpy as np

    from bench.conformance import HOST, DeliveryPoint, NonConformant
    from bench.consumer import ConsumerStep, run_consumer

    seen = []

    class Step:
        iterations = 0

        def __call__(self, batch):
            seen.append(type(batch["x"]))

    def calibrated(target_s, batch):
        seen.append(type(batch["x"]))
        return Step()

    monkeypatch.setattr(ConsumerStep, "calibrated", staticmethod(calibrated))
    device = jax.devices("cpu")[0]
    on_device = DeliveryPoint.on(jax.sharding.SingleDeviceSharding(device))

    def loader(put=lambda x: jax.device_put(x, device)):
        return lambda: iter(lambda: {"x": put(np.zeros((4, 2), np.float32))}, None)

    settings = dict(target_s=0.01, warmup_batches=1, batches=3, repetitions=2)
    run_consumer(loader(), delivery=on_device, **settings)
    assert len(seen) == 1 + 1 + 2 * 3 and all(issubclass(t, jax.Array) for t in seen)
    seen.clear()
    run_consumer(loader(), delivery=HOST, **settings)
    assert set(seen) == {np.ndarray}
    with pytest.raises(NonConformant, match="field 'x' is a numpy.ndarray"):
        run_consumer(loader(put=lambda x: x), delivery=on_device, **settings)
