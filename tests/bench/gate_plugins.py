"""Adapters for the gate tests, loaded by ``tests.bench.gate_plugins:Class`` paths.

A slowdown is injected through the environment (the runner passes it to every cell's
process), so the slowed adapter keeps the same name as in the baseline and the cells match.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path


from adapters.base import Adapter
from tests.bench.plugins import delivered_batches

SLOWDOWN_ENV = "DATARAX_TEST_SLOWDOWN"


def slowdown() -> float:
    """The factor time per batch is multiplied by (1.25 = 25 % slower)."""
    return float(os.environ.get(SLOWDOWN_ENV, "1"))


class SteadySleep(Adapter):
    """Conformant batches, each after a fixed 10 ms sleep: the reference, never slowed."""

    name = "steady-sleep"
    delay_s = 0.01

    def version(self) -> str:
        return "test"

    def _delay(self) -> float:
        return self.delay_s

    def open(self, job):
        delay = self._delay()
        for batch in itertools.cycle(delivered_batches(job)):
            time.sleep(delay)
            yield batch


class SlowableSleep(SteadySleep):
    """Like SteadySleep, with the sleep multiplied by ``$DATARAX_TEST_SLOWDOWN``."""

    name = "slowable-sleep"

    def _delay(self) -> float:
        return self.delay_s * slowdown()


class SlowableDatarax(Adapter):
    """The real datarax adapter, each batch followed by a sleep of (factor - 1) × its time."""

    name = "slowable-datarax"

    def __init__(self):
        from adapters.datarax_adapter import DataraxAdapter

        self._inner = DataraxAdapter()

    def version(self) -> str:
        return self._inner.version()

    def supports(self, scenario, variant):
        return self._inner.supports(scenario, variant)

    def open(self, job):
        extra = slowdown() - 1.0
        batches = self._inner.open(job)
        while True:
            start = time.perf_counter()
            batch = next(batches)
            for leaf in batch.values():
                getattr(leaf, "block_until_ready", lambda: None)()
            time.sleep(extra * (time.perf_counter() - start))
            yield batch

    def close(self) -> None:
        self._inner.close()


TARGET, REFERENCE = f"{__name__}:SlowableSleep", f"{__name__}:SteadySleep"
_RUNS: dict[tuple[float, int], Path] = {}


def sleep_profile(repetitions: int = 10):
    """ci_cpu cut down to CV-1/small and the two sleep adapters: a run takes a few seconds."""
    from bench.profile import CellSelection, GateConfig, load_profile

    return load_profile("ci_cpu").with_overrides(
        adapters=(TARGET, REFERENCE), cells=(CellSelection("CV-1", ("small",)),),
        warmup_batches=2, batches=10, repetitions=repetitions,
        gate=GateConfig(mode="relative", reference=REFERENCE, targets=(TARGET,), confirm_runs=1),
    )


def sleep_run(factor: float = 1.0, trial: int = 0) -> Path:
    """A real run (one process per cell) with the target slowed by ``factor``; cached per session."""
    import tempfile

    from bench.runner import run_profile

    key = (factor, trial)
    if key not in _RUNS:
        saved = os.environ.get(SLOWDOWN_ENV)
        os.environ[SLOWDOWN_ENV] = repr(factor)
        try:
            _RUNS[key] = run_profile(sleep_profile(), Path(tempfile.mkdtemp(prefix="gate-runs-")))
        finally:
            if saved is None:
                os.environ.pop(SLOWDOWN_ENV)
            else:
                os.environ[SLOWDOWN_ENV] = saved
    return _RUNS[key]
