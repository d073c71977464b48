"""LitData: ``optimize`` once into chunks → ``StreamingDataset`` + ``StreamingDataLoader``.

Records (plus their ids) are written once per scenario variant with ``litdata.optimize``.
Reading follows LitData's docs: a ``StreamingDataset`` subclass whose ``__getitem__`` applies
the transforms to each record (random parameters keyed by (seed, epoch, record id), the epoch
being the dataset's own ``current_epoch``), seeded chunk + item shuffling, and a
``StreamingDataLoader`` with ``job.cpu_budget`` workers and ``drop_last``.

IO-3 (mixing): each source optimized into its own chunks, read by a
``CombinedStreamingDataset`` with the scenario's weights (LitData's documented way to mix
datasets).

PR-1: LitData's own resumable state, ``StreamingDataLoader.state_dict()`` /
``load_state_dict()``, recorded after each batch the consumer receives.

Delivery: the loader's torch batches go through the shared overlapped ``jax.device_put``
(``adapters._delivery``), which views them as NumPy first.
"""

from __future__ import annotations

import functools
import multiprocessing
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters._element_ops import OPS, RecordTransform
from adapters._delivery import deliver
from adapters._records import NpyRecords, converted, own_format_only
from adapters._peer_state import SHARDED_CAPABILITIES, Resumable, load_state, save_state
from adapters.base import Job, LibraryAdapter

ID = "__record_id__"
CHUNKS = 32  # enough chunks for every worker to get several and for shuffling to mix them
CHUNK_BYTES = (256 << 10, 64 << 20)  # bounds; 64 MB is LitData's own default
SPAN = 1024  # records per optimize() work item


def _optimized(data, paths: dict[str, str], count: int, workers: int, tag: str) -> Path:
    """``paths``' records (plus their ids) written once by ``litdata.optimize``; their folder."""
    import litdata

    def write(folder: Path) -> None:
        total = sum(np.load(p, mmap_mode="r").nbytes for p in paths.values())
        spans = [(start, min(start + SPAN, count)) for start in range(0, count, SPAN)]
        start_method = multiprocessing.get_start_method(allow_none=True)
        try:
            litdata.optimize(
                fn=functools.partial(_records, NpyRecords(paths)),
                inputs=spans,
                output_dir=str(folder),
                chunk_bytes=int(min(max(total // CHUNKS, CHUNK_BYTES[0]), CHUNK_BYTES[1])),
                num_workers=workers,
                start_method="fork",
                verbose=False,
            )
        finally:  # optimize() forces the process-wide start method; give it back
            multiprocessing.set_start_method(start_method, force=True)

    return converted(data, tag, write)


def _records(records: NpyRecords, span: tuple[int, int]) -> Iterator[dict[str, Any]]:
    """``optimize``'s work item: a span of record ids, yielded one record at a time."""
    for index in range(*span):
        yield {ID: index, **records[index]}


@functools.cache
def _dataset_class():
    """Defined on first use so that importing this module does not import litdata (and torch)."""
    from litdata import StreamingDataset

    class TransformedStream(StreamingDataset):
        """A ``StreamingDataset`` that runs the scenario's transforms on each record it reads."""

        def __init__(self, folder: str, transform: RecordTransform, shuffle: bool):
            super().__init__(folder, shuffle=shuffle, seed=transform.seed, drop_last=True)
            self.record_transform = transform

        def __getitem__(self, index):
            record = super().__getitem__(index)
            record_id = record.pop(ID)
            t = self.record_transform
            uniforms = t.uniforms(self.current_epoch, np.array([record_id]))[0] if t.stochastic else None
            return t(record, uniforms)

    TransformedStream.__module__, TransformedStream.__qualname__ = __name__, "TransformedStream"
    return TransformedStream


def __getattr__(name: str):
    # Spawned loader workers unpickle ``adapters.litdata_adapter.TransformedStream`` by name.
    if name == "TransformedStream":
        return _dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LitDataAdapter(LibraryAdapter):
    name = library = "litdata"
    requires = ("torch",)
    ops = OPS
    backends = frozenset({"npy"})
    backend_reasons = own_format_only("LitData chunks")
    capabilities = SHARDED_CAPABILITIES | {"checkpoint", "mixing"}

    def prepare(self, job: Job) -> None:
        if dict(job.variant.params).get("weights") is not None:
            self._source_chunks(job)
        else:
            self._chunks(job)

    def _chunks(self, job: Job) -> Path:
        """Writes LitData chunks once per scenario variant; returns their folder."""
        return _optimized(job.data, dict(job.data), job.variant.num_records, job.cpu_budget, f"litdata-{CHUNKS}chunks")

    def _source_chunks(self, job: Job) -> list[Path]:
        """IO-3: each stored source (``<source>_<field>`` files) optimized into its own chunks."""
        names = sorted({field.split("_", 1)[0] for field in job.data})
        folders = []
        for name in names:
            paths = {f.split("_", 1)[1]: p for f, p in job.data.items() if f.startswith(f"{name}_")}
            count = len(np.load(next(iter(paths.values())), mmap_mode="r"))
            folders.append(_optimized(job.data, paths, count, job.cpu_budget, f"litdata-{name}-{CHUNKS}chunks"))
        return folders

    def open(self, job: Job, state: dict | None = None) -> Iterator[dict[str, Any]]:
        # Converted here, not in the delivery thread: ``optimize`` installs signal handlers.
        mixed = dict(job.variant.params).get("weights") is not None
        folders = self._source_chunks(job) if mixed else [self._chunks(job)]
        out = Resumable(state)
        return out.deliver_from(deliver(self._batches(job, folders, state, out), job))

    def save_checkpoint(self, job: Job, iterator, directory) -> None:
        """PR-1: ``StreamingDataLoader.state_dict()`` as of the consumer's last batch."""
        save_state(iterator, directory)

    def resume(self, job: Job, directory) -> Iterator[dict[str, Any]]:
        """PR-1: a new ``StreamingDataLoader`` given the saved state (``load_state_dict``)."""
        return self.open(job, load_state(directory))

    def _batches(self, job: Job, folders: list[Path], state: dict | None, out: Resumable) -> Iterator[dict[str, Any]]:
        from litdata import CombinedStreamingDataset, StreamingDataLoader

        transform = RecordTransform(job.scenario.transforms(job.variant), job.seed)
        streams = [_dataset_class()(str(folder), transform, job.shuffle) for folder in folders]
        dataset = streams[0]
        if len(streams) > 1:  # IO-3: each sample drawn from a source with its weight
            weights = np.asarray(job.variant.param("weights"), np.float64)
            dataset = CombinedStreamingDataset(
                streams, seed=job.seed, weights=list(weights / weights.sum()), iterate_over_all=False
            )
        loader = StreamingDataLoader(
            dataset, batch_size=job.variant.batch_size, num_workers=job.cpu_budget, drop_last=True
        )
        if state is not None:
            loader.load_state_dict(state)
        while True:  # each pass over the loader is one epoch; it advances the dataset's epoch
            for batch in loader:
                out.record(loader.state_dict())
                yield batch
