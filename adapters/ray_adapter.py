"""Ray Data: ``from_numpy`` of each epoch's shuffled ids → ``map_batches`` → ``iter_batches``.

``map_batches`` gathers a batch of records from the memory-mapped files and runs the transforms
with per-record random parameters keyed by (seed, epoch, record id), in Ray tasks on a local
cluster of ``job.cpu_budget`` CPUs; ``iter_batches`` re-batches to exactly the batch size with
prefetching. One Ray Dataset per epoch, as a Ray training loop iterates.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import tempfile
from typing import Any, Iterator

import numpy as np

from adapters._element_ops import OPS, RecordTransform
from adapters._records import NpyRecords, epoch_order, unsupported
from adapters.base import Adapter, Job
from scenarios import Scenario, Variant

BLOCKS_PER_CPU = 4  # blocks per epoch per CPU: every CPU busy, task overhead amortized


class _GatherTransform:
    """``{"data": ids}`` → the transformed batch; picklable (Ray ships it to its workers)."""

    def __init__(self, records: NpyRecords, transform: RecordTransform, epoch: int):
        self.records, self.transform, self.epoch = records, transform, epoch

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = batch["data"]
        return self.transform.batch(self.records.gather(ids), ids, self.epoch)


class RayAdapter(Adapter):
    name = "ray"

    def __init__(self):
        self._started = False

    def version(self) -> str:
        return importlib.metadata.version("ray")

    def available(self) -> str | None:
        try:
            import ray.data  # noqa: F401
        except ImportError as e:
            return f"ray[data] is not importable: {e}"
        return None

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        return unsupported(scenario, variant, OPS, "NumPy element op")

    def _ray(self, cpus: int):
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token written to ~/.ray
        import ray

        if not ray.is_initialized():
            ray.init(
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=False,
                _temp_dir=tempfile.mkdtemp(prefix="ray-"),
            )
            self._started = True
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = True  # the seeded order, as the other loaders give
        return ray

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        ray = self._ray(job.cpu_budget)
        variant = job.variant
        records = NpyRecords(job.data)
        transform = RecordTransform(job.scenario.transforms(variant), job.seed)
        n, batch_size = variant.num_records, variant.batch_size
        used = n // batch_size * batch_size
        block = max(1, used // batch_size // (BLOCKS_PER_CPU * job.cpu_budget)) * batch_size
        epoch = 0
        while True:
            order = epoch_order(n, job.seed, epoch, job.shuffle)[:used]
            blocks = np.split(order, range(block, used, block))
            dataset = ray.data.from_numpy(blocks).map_batches(
                _GatherTransform(records, transform, epoch), batch_size=batch_size, batch_format="numpy"
            )
            yield from dataset.iter_batches(
                batch_size=batch_size, batch_format="numpy", drop_last=True, prefetch_batches=job.cpu_budget
            )
            epoch += 1

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
