"""WebDataset: tar shards (written once) → shard + buffer shuffle → decode → batched in workers.

Records are written once per scenario variant as ``.npy`` members of ``SHARDS`` tar files
(the layout ``wds.TarWriter`` writes).
Each epoch builds ``WebDataset(shards)`` with a seeded shard shuffle and a seeded sample
shuffle buffer, decodes, batches inside each of ``job.cpu_budget`` ``WebLoader`` workers
(shards are split between workers, as WebDataset recommends) and runs the transforms on each
batch there, with per-record random parameters keyed by (seed, epoch, record id). The buffer
shuffle is approximate and worker interleaving is not reproducible: that is WebDataset's
design, not an omission here.
"""

from __future__ import annotations

import importlib.metadata
import io
import tarfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters._element_ops import OPS, RecordTransform
from adapters._records import converted
from adapters.base import Adapter, Job
from scenarios import Scenario, Variant

SHARDS = 16  # at least as many shards as workers; the records are split evenly
SHUFFLE_BUFFER = 1000


class _Finish:
    """A decoded batch of samples → the scenario's output batch; picklable for the workers."""

    def __init__(self, fields: list[str], transform: RecordTransform, epoch: int):
        self.fields, self.transform, self.epoch = fields, transform, epoch

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        ids = np.array([int(key) for key in batch["__key__"]])
        return self.transform.batch({f: batch[f"{f}.npy"] for f in self.fields}, ids, self.epoch)


def _write_shard(path: Path, arrays: dict[str, np.ndarray], ids: range) -> None:
    """One tar shard with a ``<id>.<field>.npy`` member per field of each record.

    The same bytes ``wds.TarWriter`` would write, without its per-sample encoder dispatch:
    every record of a field shares one ``.npy`` header.
    """
    headers = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(array[0]))
        headers[name] = buffer.getvalue()
    with tarfile.open(path, "w") as tar:
        for i in ids:
            for name, array in arrays.items():
                payload = headers[name] + np.ascontiguousarray(array[i]).tobytes()
                member = tarfile.TarInfo(f"{i:09d}.{name}.npy")
                member.size = len(payload)
                tar.addfile(member, io.BytesIO(payload))


class WebDatasetAdapter(Adapter):
    name = "webdataset"

    def version(self) -> str:
        return importlib.metadata.version("webdataset")

    def available(self) -> str | None:
        try:
            import webdataset  # noqa: F401
        except ImportError as e:
            return f"webdataset is not importable: {e}"
        return None

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        if variant.num_records // SHARDS < variant.batch_size:
            return f"{variant.num_records} records in {SHARDS} shards give shards smaller than a batch"
        missing = [t.name for t in scenario.transforms(variant) if t.name not in OPS]
        return f"no NumPy element op for {missing}" if missing else None

    def prepare(self, job: Job) -> list[str]:
        """Writes the tar shards once per scenario variant; returns their paths."""

        def write(folder: Path) -> None:
            arrays = job.arrays()
            bounds = np.linspace(0, job.variant.num_records, SHARDS + 1).astype(int)
            for shard, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
                _write_shard(folder / f"shard-{shard:05d}.tar", arrays, range(start, stop))

        folder = converted(job.data, "webdataset", write)
        return [str(folder / f"shard-{shard:05d}.tar") for shard in range(SHARDS)]

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        import webdataset as wds

        shards = self.prepare(job)
        variant = job.variant
        fields = [f.name for f in job.scenario.input_fields(variant)]
        transform = RecordTransform(job.scenario.transforms(variant), job.seed)
        epoch = 0
        while True:
            seed = job.seed * 1_000_003 + epoch
            dataset = wds.WebDataset(
                shards,
                shardshuffle=len(shards) if job.shuffle else False,
                seed=seed,
                nodesplitter=wds.single_node_only,
                workersplitter=wds.split_by_worker,
                empty_check=False,
            )
            if job.shuffle:
                dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed)
            dataset = dataset.decode().batched(variant.batch_size, partial=False).map(_Finish(fields, transform, epoch))
            for batch in wds.WebLoader(dataset, batch_size=None, num_workers=job.cpu_budget):
                batch.pop("__key__", None)  # WebDataset's map carries the sample keys along
                yield batch
            epoch += 1
