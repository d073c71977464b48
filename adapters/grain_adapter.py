"""Grain: ``MapDataset`` → shuffle → batch of ids → gather + transforms → ``mp_prefetch``.

Grain's fastest in-memory feed is one vectorized gather per batch of shuffled ids (Grain's
Feistel ``shuffle``, reseeded every epoch by ``repeat``), not a per-record ``__getitem__``;
the transforms then run with per-record random parameters keyed by (seed, epoch, record id).
Reads are in-line (``num_threads=0``, what Grain's docs recommend for data already in memory).
Record-by-record (stochastic) work runs in ``job.cpu_budget`` worker processes
(``mp_prefetch``); cheap vectorized work (deterministic transforms) stays in-process, where
Grain is faster than paying for worker start and shared-memory transfer. IO-1's ArrayRecord
backend reads through ``grain.sources.ArrayRecordDataSource`` (one batched ``__getitems__``).
"""

from __future__ import annotations

from typing import Any, Iterator

from adapters import _formats
from adapters._element_ops import OPS, RecordTransform
from adapters._records import NpyRecords
from adapters.base import Job, LibraryAdapter


class _GatherAndTransform:
    """``(batch index, ids) -> batch``; picklable, so spawned workers rebuild it."""

    def __init__(self, records: NpyRecords, transform: RecordTransform, batches_per_epoch: int):
        self.records, self.transform, self.batches_per_epoch = records, transform, batches_per_epoch

    def __call__(self, index: int, ids) -> dict[str, Any]:
        epoch = index // self.batches_per_epoch
        return self.transform.batch(self.records.gather(ids), ids, epoch)


def _rewound(iterator, start) -> Iterator[dict[str, Any]]:
    """The pipeline's stream from its first batch: Grain's checkpoint restore (``set_state``)
    rewinds the live iterator, so worker processes keep running from one iterator to the next."""
    iterator.set_state(start)
    for batch in iterator:  # not ``yield from``: closing this generator must not close the iterator
        yield batch


class GrainAdapter(LibraryAdapter):
    name = library = "grain"
    ops = OPS
    backends = frozenset({"npy", "memory", "array_record"})
    backend_reasons = {
        "parquet": "Grain reads Parquet only as a stream (grain.experimental.ParquetIterDataset): "
        "no random access by record id, so no global shuffle like its other sources",
    }

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def _start(self, job: Job):
        """The iterator of the job's pipeline and its initial state (workers start lazily)."""
        import grain
        from absl import flags

        flags.FLAGS.mark_as_parsed()  # Grain's workers read absl flags; we are not an absl app
        variant = job.variant
        records = _formats.records(job, grain.sources.ArrayRecordDataSource)
        transform = RecordTransform(job.scenario.transforms(variant), job.seed)
        ids = grain.MapDataset.range(variant.num_records)
        if job.shuffle:
            ids = ids.shuffle(seed=job.seed)
        batches = ids.batch(variant.batch_size, drop_remainder=True)
        work = _GatherAndTransform(records, transform, len(batches))
        dataset = batches.repeat().map_with_index(work).to_iter_dataset(grain.ReadOptions(num_threads=0))
        if transform.stochastic and job.cpu_budget > 1:
            dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=job.cpu_budget))
        iterator = iter(dataset)
        return iterator, iterator.get_state()

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        return _rewound(*self.cached(job, lambda: self._start(job)))

    def close(self) -> None:
        for iterator, _ in self.__dict__.get("_cache", {}).values():
            iterator.close()  # stops the worker processes
        super().close()
