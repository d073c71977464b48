"""The executor's own monitoring: cheap per-stage counters of where a pipeline's time goes."""

from __future__ import annotations

import dataclasses

# Producer side (inline in ``next()`` or a background thread): sampler + source gather + host
# stages, a transfer to the device when the step runs later (live variables) or over a mesh,
# and the step's dispatch when variables are frozen. Consumer side: waiting on the producer's
# thread, and the step when it runs on demand. ``step`` replaces ``dispatch`` when each step is
# waited for (``time_stages=True``).
STAGES = ("gather", "host_to_device", "dispatch", "queue_wait", "step")


@dataclasses.dataclass
class StageTimes:
    """Cumulative seconds and batch counts per stage for one iterator.

    Each stage is written by one thread only (the producer's or the consumer's), so two
    float additions per stage and batch are all it costs. ``step`` is counted only when the
    pipeline waits for each step's result (``Pipeline(time_stages=True)``), since a
    dispatched step's time is not known until then; ``queue_wait`` only with a producer thread.
    A chunk of K batches adds its time once with a count of K.
    """

    seconds: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    batches: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(STAGES, 0))

    def add(self, stage: str, seconds: float, batches: int = 1) -> None:
        self.seconds[stage] += seconds
        self.batches[stage] += batches

    def report(self) -> dict[str, float]:
        """``{stage}_s`` (total seconds) and ``{stage}_batches`` for every stage counted so far."""
        out: dict[str, float] = {}
        for stage in STAGES:
            if self.batches[stage]:
                out[f"{stage}_s"] = self.seconds[stage]
                out[f"{stage}_batches"] = self.batches[stage]
        return out
