"""The executor's own monitoring: cheap per-stage counters of where a pipeline's time goes."""

from __future__ import annotations

import dataclasses

# Producer side (the prefetch thread, or the caller's with prefetch=0): sampler + source gather
# + host stages, then the transfer to the device. Consumer side: waiting on the producer's
# queue, then the compiled step.
STAGES = ("gather", "host_to_device", "queue_wait", "step")


@dataclasses.dataclass
class StageTimes:
    """Cumulative seconds and batch counts per stage for one iterator.

    Each stage is written by one thread only (the producer's or the consumer's), so two
    float additions per stage and batch are all it costs. ``step`` is counted only when the
    pipeline waits for each step's result (``Pipeline(time_stages=True)``), since a
    dispatched step's time is not known until then; ``queue_wait`` only when prefetching.
    """

    seconds: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    batches: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(STAGES, 0))

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds
        self.batches[stage] += 1

    def report(self) -> dict[str, float]:
        """``{stage}_s`` (total seconds) and ``{stage}_batches`` for every stage counted so far."""
        out: dict[str, float] = {}
        for stage in STAGES:
            if self.batches[stage]:
                out[f"{stage}_s"] = self.seconds[stage]
                out[f"{stage}_batches"] = self.batches[stage]
        return out
