"""A simulated training step consuming each batch: how much of a model's time goes to waiting.

The step is real work, not a sleep: a jitted chain of 256x256 float32 matmuls, plus a
reduction over every field of the batch, read where it was delivered (on the device, or, in
host mode, transferred by the step as a training step fed host arrays would). Its chain length
is calibrated once per cell, on the first batch as delivered, to take the target time on this
machine under the cell's CPU budget: a loader's own host→device copy is the loader's time,
never part of the step. The consumer then takes batches back to back: ``next()`` to the cell's
delivery point (the wait), then one step. The stall fraction is the share of wall time spent
waiting; a loader that produces in the background while the step runs reaches zero.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from bench.conformance import HOST, DeliveryPoint, NonConformant
from bench.measure import close_iterator, next_batch

MATRIX = 256
CALIBRATION_TRIALS = 7
CORRECTIONS = 4  # re-measure the chosen length until within 5 % of the target, at most this often


def _median_seconds(run: Callable[[], Any], trials: int = CALIBRATION_TRIALS) -> float:
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


@dataclasses.dataclass
class ConsumerStep:
    """``step(batch)``: ``iterations`` matmuls and a read of the batch, waited on."""

    target_s: float
    iterations: int
    fn: Callable = dataclasses.field(repr=False)  # jitted (x, w, iterations, read) -> scalar
    read: Callable = dataclasses.field(repr=False)  # jitted batch -> scalar, where the batch lives
    operands: tuple = dataclasses.field(repr=False)  # x, w

    def __call__(self, batch: Mapping[str, Any]) -> None:
        # The batch is read where it lives (a batch sharded over a mesh stays sharded), then
        # the matmuls run on one device: a sharded batch would otherwise replicate them.
        read = np.float32(self.read(dict(batch)))
        self.fn(*self.operands, self.iterations, read).block_until_ready()

    @classmethod
    def calibrated(cls, target_s: float, batch: Mapping[str, Any]) -> "ConsumerStep":
        """A step taking ``target_s`` (median of trials) on ``batch``; at least the batch read."""
        import jax
        import jax.numpy as jnp

        def work(x, w, iterations, read):
            x = jax.lax.fori_loop(0, iterations, lambda _, x: jnp.tanh(x @ w), x)
            return jnp.sum(x) + read

        def read_batch(batch):
            return sum(jnp.sum(leaf.astype(jnp.float32)) for leaf in jax.tree.leaves(batch))

        key = jax.random.key(0)
        x = jax.random.normal(key, (MATRIX, MATRIX), jnp.float32)
        w = jax.random.normal(jax.random.fold_in(key, 1), (MATRIX, MATRIX), jnp.float32) / MATRIX**0.5
        step = cls(target_s, 0, jax.jit(work), jax.jit(read_batch), (x, w))
        step(batch)  # compile
        base = _median_seconds(lambda: step(batch))
        step.iterations = 16
        per_iteration = max((_median_seconds(lambda: step(batch)) - base) / 16, 1e-7)
        step.iterations = max(0, round((target_s - base) / per_iteration))
        for _ in range(CORRECTIONS):  # against the measured time of the chosen length
            if not step.iterations:
                break
            measured = _median_seconds(lambda: step(batch))
            if abs(measured - target_s) <= 0.05 * target_s:
                break
            step.iterations = max(0, round(step.iterations * (target_s - base) / max(measured - base, 1e-7)))
        return step


def run_consumer(
    open_iterator: Callable[[], Iterator[Mapping[str, Any]]],
    *,
    target_s: float,
    warmup_batches: int,
    batches: int,
    repetitions: int,
    delivery: DeliveryPoint = HOST,
) -> dict[str, Any]:
    """Calibrates a step on the first batch as ``delivery`` hands it over, then per repetition
    (a fresh iterator) times each batch's wait and step; returns raw samples and the step's
    calibration."""
    iterator = open_iterator()
    first = delivery.wait(next_batch(iterator))
    problem = delivery.problem(first)
    if problem:
        close_iterator(iterator)
        raise NonConformant(problem)
    step = ConsumerStep.calibrated(target_s, first)
    for _ in range(warmup_batches):
        step(delivery.wait(next_batch(iterator)))
    close_iterator(iterator)
    del iterator, first
    waits, walls = [], []
    for _ in range(repetitions):
        gc.collect()
        iterator = open_iterator()
        rep_wait, rep_wall = [], []
        for _ in range(batches):
            start = time.perf_counter()
            batch = delivery.wait(next_batch(iterator))
            ready = time.perf_counter()
            step(batch)
            rep_wait.append(ready - start)
            rep_wall.append(time.perf_counter() - start)
        close_iterator(iterator)
        del iterator, batch
        waits.append(rep_wait)
        walls.append(rep_wall)
    return {"wait_s": waits, "wall_s": walls, "step_iterations": step.iterations}


def summarize_consumer(raw: Mapping[str, Any], target_s: float) -> dict[str, Any]:
    """Stall fraction and steps/s per repetition over its batches after the first (whose wait
    is the iterator's start-up), their medians, and the median step time as it ran."""
    stalls, rates, steps = [], [], []
    for wait, wall in zip(raw["wait_s"], raw["wall_s"]):
        waited, total = sum(wait[1:]), sum(wall[1:])
        stalls.append(waited / total)
        rates.append((len(wall) - 1) / total)
        steps.extend(b - w for w, b in zip(wait[1:], wall[1:]))
    return {
        "consumer_step_target_s": target_s,
        "consumer_step_s": float(np.median(steps)),
        "consumer_step_iterations": raw["step_iterations"],
        "stall_fraction": float(np.median(stalls)),
        "steps_per_s": float(np.median(rates)),
        "stall_fraction_by_repetition": stalls,
        "steps_per_s_by_repetition": rates,
    }
