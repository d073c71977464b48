"""The shared delivery helper: device batches prefetched by one thread that errors, closing and
dropping stop; host batches passed through as NumPy; global arrays on a mesh."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from adapters import Job
from adapters._delivery import DEPTH, DevicePrefetch, deliver

JOB = Job("NLP-1", "small", {}, seed=0, cpu_budget=1)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Source:
    """Endless batches ``{"x": [i, ...]}``, counting what it produced; optionally failing."""

    def __init__(self, fail_at: int | None = None, delay_s: float = 0.0, tensor=np.asarray):
        self.produced, self.closed, self.fail_at, self.delay_s, self.tensor = 0, False, fail_at, delay_s, tensor
        self.thread: str | None = None
        self.affinity: set[int] | None = None

    def __iter__(self):
        self.thread = threading.current_thread().name
        self.affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        try:
            while True:
                if self.produced == self.fail_at:
                    raise RuntimeError(f"loader failed at batch {self.produced}")
                time.sleep(self.delay_s)
                self.produced += 1
                yield {"x": self.tensor(np.full(4, self.produced - 1, np.int32))}
        finally:
            self.closed = True


def _delivery_threads() -> int:
    return sum(t.name == "datarax-bench-delivery" for t in threading.enumerate())


def test_device_batches_are_jax_arrays_on_the_jobs_device_put_by_another_thread():
    import jax

    source = Source()
    batches = deliver(iter(source), JOB)
    got = [next(batches) for _ in range(5)]
    assert [int(b["x"][0]) for b in got] == list(range(5))
    assert all(isinstance(b["x"], jax.Array) and b["x"].devices() == {jax.devices("cpu")[0]} for b in got)
    assert source.thread == "datarax-bench-delivery"
    batches.close()
    assert source.closed


def test_production_runs_ahead_of_the_consumer_by_the_depth():
    source = Source()
    batches = deliver(iter(source), JOB)
    next(batches)
    time.sleep(0.3)  # the consumer is busy: the thread fills its queue, then waits
    # one handed out, DEPTH queued, one put and waiting for room
    assert source.produced == 1 + DEPTH + 1
    batches.close()


def test_torch_tensors_are_delivered_too():
    torch = pytest.importorskip("torch")
    import jax

    batches = deliver(iter(Source(tensor=torch.from_numpy)), JOB)
    assert isinstance(next(batches)["x"], jax.Array)
    batches.close()


def test_a_loader_error_is_raised_by_the_next_that_would_return_its_batch():
    batches = deliver(iter(Source(fail_at=3)), JOB)
    assert [int(next(batches)["x"][0]) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(RuntimeError, match="loader failed at batch 3"):
        next(batches)
    with pytest.raises(StopIteration):
        next(batches)
    assert _delivery_threads() == 0


def test_a_finite_loader_ends_the_iterator():
    batches = deliver(iter([{"x": np.zeros(2)}] * 3), JOB)
    assert len(list(batches)) == 3


def test_closing_or_dropping_the_iterator_stops_its_thread_and_closes_the_loader():
    before = _delivery_threads()
    sources = []
    for i in range(20):  # the harness opens several iterators per cell
        source = Source(delay_s=0.001)
        sources.append(source)
        batches = deliver(iter(source), JOB)
        next(batches)
        if i % 2:
            batches.close()
        else:
            del batches  # dropped without close()
            gc.collect()
    assert _delivery_threads() == before
    assert all(s.closed for s in sources)


def test_close_waits_for_a_slow_loaders_pending_batch():
    source = Source(delay_s=0.2)
    batches = deliver(iter(source), JOB)
    next(batches)
    batches.close()
    assert source.closed and _delivery_threads() == 0


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux CPU affinity")
def test_the_thread_runs_inside_the_cells_cpu_budget():
    saved = os.sched_getaffinity(0)
    one = {min(saved)}
    os.sched_setaffinity(0, one)  # as the cell pins itself before opening any loader
    try:
        source = Source()
        batches = DevicePrefetch(iter(source), JOB.sharding())
        next(batches)
        batches.close()
    finally:
        os.sched_setaffinity(0, saved)
    assert source.affinity == one


def test_host_delivery_passes_numpy_batches_through():
    torch = pytest.importorskip("torch")
    source = Source(tensor=torch.from_numpy)
    host = Job("NLP-1", "small", {}, seed=0, cpu_budget=1, delivery="host")
    batches = deliver(iter(source), host)
    first = next(batches)
    assert type(first["x"]) is np.ndarray and int(first["x"][0]) == 0
    assert source.thread == threading.current_thread().name  # no thread in host mode
    batches.close()
    assert source.closed


def test_a_bad_delivery_names_the_valid_choices():
    with pytest.raises(ValueError, match="delivery 'hbm'; valid: device, host"):
        Job("NLP-1", "small", {}, seed=0, cpu_budget=1, delivery="hbm")


def test_a_mesh_cell_gets_global_arrays_with_the_scenarios_sharding():
    """DIST-2's 4x2 mesh of forced host devices: the helper assembles global arrays that the
    scenario's own sharding check accepts, and the job's sharding spans all eight devices."""
    code = textwrap.dedent("""
        import numpy as np
        from adapters import Job
        from adapters._delivery import deliver
        from scenarios import get_scenario
        for variant in ("small", "small-flat"):
            job = Job("DIST-2", variant, {}, seed=0, cpu_budget=1)
            rows = {"x": np.ones((256, 256), np.float32), "index": np.arange(256, dtype=np.int32)}
            batch = next(deliver(iter([rows]), job))
            out = get_scenario("DIST-2").sharding_outcomes(job.variant, batch)
            assert len(job.sharding().device_set) == 8 and batch["index"].sharding.device_set == job.sharding().device_set
            print(variant, out["per_device_shard_shape"])
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["small 64x256", "small-flat 32x256"]  # 4-way, 8-way split
