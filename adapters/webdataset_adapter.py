"""WebDataset: tar shards (written once) → shard + buffer shuffle → decode → batched in workers.

Records are written once per scenario variant as ``.ten`` members (WebDataset's tensor
encoding) of ``SHARDS`` tar files.
Each epoch builds ``WebDataset(shards)`` with a seeded shard shuffle and a seeded sample
shuffle buffer, decodes, batches inside each of ``job.cpu_budget`` ``WebLoader`` workers
(shards are split between workers, as WebDataset recommends) and runs the transforms on each
batch there, with per-record random parameters keyed by (seed, epoch, record id). The buffer
shuffle is approximate and worker interleaving is not reproducible: that is WebDataset's
design, not an omission here.

IO-3 (mixing): each source in its own shards, one pipeline per source mixed by
``wds.RandomMix`` with the scenario's weights as ``probs`` (WebDataset's mixing idiom), ending
the epoch when a source runs out.

Delivery: WebDataset has no device stage; the workers' NumPy batches go through the shared
overlapped ``jax.device_put`` (``adapters._delivery``).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters._element_ops import OPS, RecordTransform
from adapters._delivery import deliver
from adapters._records import converted, own_format_only
from adapters._peer_state import SHARDED_CAPABILITIES
from adapters.base import Job, LibraryAdapter
from scenarios import Scenario, Variant

SHARDS = 16  # at least as many shards as workers; the records are split evenly
SHUFFLE_BUFFER = 1000


class _Finish:
    """A decoded batch of samples → the scenario's output batch; picklable for the workers."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], transform: RecordTransform, epoch: int):
        self.shapes, self.transform, self.epoch = shapes, transform, epoch

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        ids = np.array([int(key) for key in batch["__key__"]])
        records = {
            name: np.stack([tensors[0] for tensors in batch[f"{name}.ten"]]).reshape(len(ids), *shape)
            for name, shape in self.shapes.items()
        }
        return self.transform.batch(records, ids, self.epoch)


def _ten_encoder(shape: tuple[int, ...], dtype: np.dtype):
    """``row -> bytes`` equal to ``tenbin.encode_buffer([row])`` for rows of one shape and dtype.

    The encoding is a fixed header, the raw bytes and a fixed trailer; they are cut once from
    the encoding of a random probe, and the result is checked against tenbin itself.
    """
    from webdataset import tenbin

    count = int(np.prod(shape))
    probe = np.frombuffer(np.random.default_rng(0).bytes(count * dtype.itemsize), dtype).reshape(shape)
    template, raw = tenbin.encode_buffer([probe]), probe.tobytes()
    start = template.find(raw)
    head, tail = template[:start], template[start + len(raw) :]
    encode = lambda row: head + np.ascontiguousarray(row, dtype).tobytes() + tail  # noqa: E731
    if start < 0 or encode(probe) != template:
        return lambda row: tenbin.encode_buffer([np.asarray(row, dtype).reshape(shape)])
    return encode


def _write_shard(path: Path, arrays: dict[str, np.ndarray], ids: range) -> None:
    """One tar shard with a ``<id>.<field>.ten`` member per field of each record.

    ``.ten`` is WebDataset's own tensor encoding (``webdataset.tenbin``), which its default
    decoder reads several times faster than ``.npy``; scalars are stored with shape (1,).
    """
    encoders = {name: _ten_encoder(a.shape[1:] or (1,), a.dtype) for name, a in arrays.items()}
    with tarfile.open(path, "w") as tar:
        for i in ids:
            for name, array in arrays.items():
                payload = encoders[name](array[i])
                member = tarfile.TarInfo(f"{i:09d}.{name}.ten")
                member.size = len(payload)
                tar.addfile(member, io.BytesIO(payload))


def _mixed(job: Job) -> bool:
    return dict(job.variant.params).get("weights") is not None


def _samples(wds, shards: list[str], seed: int, shuffle: bool):
    """Decoded samples of ``shards``: seeded shard shuffle, shards split between workers, a
    seeded sample shuffle buffer."""
    dataset = wds.WebDataset(
        shards,
        shardshuffle=len(shards) if shuffle else False,
        seed=seed,
        nodesplitter=wds.single_node_only,
        workersplitter=wds.split_by_worker,
        empty_check=False,
    )
    if shuffle:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed)
    return dataset.decode()


class WebDatasetAdapter(LibraryAdapter):
    name = library = "webdataset"
    ops = OPS
    backends = frozenset({"npy"})
    backend_reasons = own_format_only("tar shards")
    capabilities = SHARDED_CAPABILITIES | {"mixing"}
    capability_reasons = {
        "checkpoint": "WebDataset's stream (shard shuffle, a sample shuffle buffer, batches interleaved "
        "from workers) has no state to save; it restarts from shards, not from a position"
    }

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        if variant.num_records // SHARDS < variant.batch_size:
            return f"{variant.num_records} records in {SHARDS} shards give shards smaller than a batch"
        return super().supports(scenario, variant)

    def prepare(self, job: Job) -> None:
        if _mixed(job):
            self._source_shards(job)
        else:
            self._shards(job)

    def _source_shards(self, job: Job) -> list[list[str]]:
        """IO-3: each stored source (``<source>_<field>`` files) in its own ``SHARDS`` tar shards."""
        names = sorted({field.split("_", 1)[0] for field in job.data})

        def write(folder: Path) -> None:
            arrays = job.arrays()
            for name in names:
                columns = {f.split("_", 1)[1]: a for f, a in arrays.items() if f.startswith(f"{name}_")}
                bounds = np.linspace(0, len(next(iter(columns.values()))), SHARDS + 1).astype(int)
                for shard, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
                    _write_shard(folder / f"{name}-{shard:05d}.tar", columns, range(start, stop))

        folder = converted(job.data, "webdataset-sources-ten", write)
        return [[str(folder / f"{name}-{shard:05d}.tar") for shard in range(SHARDS)] for name in names]

    def _shards(self, job: Job) -> list[str]:
        """Writes the tar shards once per scenario variant; returns their paths."""

        def write(folder: Path) -> None:
            arrays = job.arrays()
            bounds = np.linspace(0, job.variant.num_records, SHARDS + 1).astype(int)
            for shard, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
                _write_shard(folder / f"shard-{shard:05d}.tar", arrays, range(start, stop))

        folder = converted(job.data, "webdataset-ten", write)
        return [str(folder / f"shard-{shard:05d}.tar") for shard in range(SHARDS)]

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        return deliver(self._batches(job), job)

    def _batches(self, job: Job) -> Iterator[dict[str, Any]]:
        import webdataset as wds

        variant = job.variant
        transform = RecordTransform(job.scenario.transforms(variant), job.seed)
        if _mixed(job):
            sources = self._source_shards(job)
            shapes = {f.name: f.shape for f in job.scenario.output_fields(variant)}
        else:
            sources = [self._shards(job)]
            shapes = {f.name: f.shape for f in job.scenario.input_fields(variant)}
        epoch = 0
        while True:
            seed = job.seed * 1_000_003 + epoch
            streams = [_samples(wds, shards, seed + i, job.shuffle) for i, shards in enumerate(sources)]
            finish = _Finish(shapes, transform, epoch)
            if len(streams) > 1:  # IO-3: each sample drawn from a source with its weight
                dataset = wds.DataPipeline(
                    wds.RandomMix(streams, probs=list(variant.param("weights"))),
                    wds.batched(variant.batch_size, partial=False),
                    wds.map(finish),
                )
            else:
                dataset = streams[0].batched(variant.batch_size, partial=False).map(finish)
            for batch in wds.WebLoader(dataset, batch_size=None, num_workers=job.cpu_budget):
                batch.pop("__key__", None)  # WebDataset's map carries the sample keys along
                yield batch
            epoch += 1
