"""Grain: ``MapDataset`` of batch indices → ids from the epoch's permutation → gather + transforms.

Grain's fastest in-memory feed is one vectorized gather per batch, not a per-record
``__getitem__``. Its ``shuffle`` is a per-index Feistel map that ``batch`` calls once per record
in Python (measured here: 26-45 µs a record, 30-60x the rest of a NLP-1 or TAB-1 batch), so
the ids come from the epoch's seeded permutation, drawn once per epoch in one vectorized call:
the batch sampler every other peer uses. The transforms run with per-record random parameters keyed by
(seed, epoch, record id). Reads are in-line (``num_threads=0``, what Grain's docs recommend for
data already in memory; measured here, two read threads were slower on NLP-1, PC-1 and IO-1). Record-by-record (stochastic) work runs in ``job.cpu_budget`` worker
processes (``mp_prefetch``), started once per job; cheap vectorized work stays in-process,
where Grain is faster than paying for shared-memory transfer. IO-1's ArrayRecord backend reads
through ``grain.sources.ArrayRecordDataSource`` (one batched ``__getitems__``); its Parquet file
through a random-access source over pyarrow row groups (Grain's own ``ParquetIterDataset``
only streams, so it cannot serve a global shuffle). Across JAX processes (DIST-3) each process
reads its ``ShardByJaxProcess`` shard and its rows become global arrays
(``jax.make_array_from_process_local_data``). The scenarios' pipeline shapes
(``adapters.grain_pipeline``): IO-3 is ``grain.MapDataset.mix`` of the sources with the
scenario's weights, then ``.batch``; CV-3's MixUp/CutMix a batch-level ``.map`` after the batch
step; PC-3 Grain's ``grain.experimental.RebatchIterDataset``; PC-2 one transform path per view;
IO-4 a per-record cache of the deterministic transforms inside the batch step.

Delivery: Grain's own ``grain.experimental.device_put`` ends the pipeline (a thread that
prefetches host batches, ``jax.device_put`` onto the job's device or mesh sharding, DIST-1/2, a
second thread holding batches already on the device), as Grain documents for JAX training loops.
PR-1 saves Grain's own iterator state (``get_state``, JSON) and restores a fresh iterator with
``set_state``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters import _formats
from adapters import grain_pipeline as gp
from adapters._element_ops import OPS
from adapters._peer_state import SHARDED_CAPABILITIES
from adapters.base import Job, LibraryAdapter


def _rewound(iterator, start) -> Iterator[dict[str, Any]]:
    """The pipeline's stream from its first batch: Grain's checkpoint restore (``set_state``)
    rewinds the live iterator, so worker processes keep running from one iterator to the next."""
    iterator.set_state(start)
    for batch in iterator:  # not ``yield from``: closing this generator must not close the iterator
        yield batch


def _global_batch(job: Job):
    """This process's rows → global arrays over every JAX process's devices (DIST-3)."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    if (job.process_index, job.process_count) != (jax.process_index(), jax.process_count()):
        raise RuntimeError(f"the job is process {job.process_index} of {job.process_count}, JAX runs process "
                           f"{jax.process_index()} of {jax.process_count()}: initialise jax.distributed first")
    sharding = NamedSharding(Mesh(np.asarray(jax.devices()), ("data",)), PartitionSpec("data"))
    return lambda batch: {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}


_STATE_FILE = "grain_iterator_state.json"


class GrainAdapter(LibraryAdapter):
    name = library = "grain"
    ops = frozenset(OPS) | gp.BATCH_LEVEL | {"box_blur"}  # MixUp/CutMix: gp.BatchMix; box_blur: gp.CachedTransform
    backends = frozenset({"npy", "memory", "array_record", "parquet"})
    capabilities = SHARDED_CAPABILITIES | {"checkpoint", "mixing", "batch_mixing", "rebatching", "parallel_views", "caching"}

    def supports(self, scenario, variant):
        if "multi_process" in scenario.capabilities:  # process shards as global arrays: _global_batch
            missing = [t.name for t in scenario.transforms(variant) if t.name not in self.ops]
            return f"no {self.ops_kind} for {missing}" if missing else None
        if "cache" not in dict(variant.params) and any(t.name == "box_blur" for t in scenario.transforms(variant)):
            return "box_blur runs only in IO-4's cached batch step (adapters.grain_pipeline.CachedTransform)"
        return super().supports(scenario, variant)

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def _scratch(self) -> str:
        """A fresh folder for one job's disk cache (IO-4), under this adapter's scratch root."""
        if self.__dict__.get("_scratch_root") is None:
            self._scratch_root = tempfile.mkdtemp(prefix="grain-cache-")
        return tempfile.mkdtemp(dir=self._scratch_root)

    def _start(self, job: Job):
        """The iterator of the job's pipeline and its initial state (workers start lazily)."""
        import grain
        from absl import flags

        flags.FLAGS.mark_as_parsed()  # Grain's workers read absl flags; we are not an absl app
        variant = job.variant
        params = dict(variant.params)
        multi_process = "processes" in params
        if "weights" in params:  # IO-3: Grain's mix of the sources
            batches, stochastic = gp.mixed_sources(job), False
        else:
            records = _formats.records(job, grain.sources.ArrayRecordDataSource)
            transform = gp.CachedTransform(job, self._scratch() if params.get("cache") == "disk" else None) if "cache" in params else gp.per_record_transform(job)
            mixing = gp.BatchMix(job) if any(t.name in gp.BATCH_LEVEL for t in job.scenario.transforms(variant)) else None
            shard = grain.sharding.ShardByJaxProcess(drop_remainder=True) if multi_process else None
            work = gp.BatchStep(records, transform, job, shard, keyed=mixing is not None)
            batches = grain.MapDataset.range(work.batches_per_epoch).repeat().map_with_index(work)
            if mixing is not None:  # CV-3: MixUp/CutMix after batching, a batch-level map
                batches = batches.map(mixing)
            stochastic = transform.stochastic or mixing is not None
        dataset = batches.to_iter_dataset(grain.ReadOptions(num_threads=0))
        if stochastic and job.cpu_budget > 1:
            dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=job.cpu_budget))
        if "source_batch" in params:  # PC-3: Grain's own rebatching across batch boundaries
            dataset = grain.experimental.RebatchIterDataset(dataset, variant.batch_size, drop_remainder=True)
        if multi_process:  # already global device arrays
            dataset = dataset.map(_global_batch(job))
        elif job.on_device:
            dataset = grain.experimental.device_put(dataset, job.sharding())
        iterator = iter(dataset)
        return iterator, iterator.get_state()

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        return _rewound(*self.cached(job, lambda: self._start(job)))

    def save_checkpoint(self, job: Job, iterator, directory: Path) -> None:
        """PR-1: Grain's own iterator state (``get_state``: the position of the last batch the
        consumer took, whatever its prefetch threads and workers hold), as JSON."""
        live, _ = self.cached(job, lambda: self._start(job))
        Path(directory, _STATE_FILE).write_text(json.dumps(live.get_state()))

    def resume(self, job: Job, directory: Path) -> Iterator[dict[str, Any]]:
        """A fresh iterator of the same dataset (new workers), restored by ``set_state``."""
        iterator, _ = self._start(job)
        self.__dict__.setdefault("_resumed", []).append(iterator)
        return _rewound(iterator, json.loads(Path(directory, _STATE_FILE).read_text()))

    def close(self) -> None:
        live = [iterator for iterator, _ in self.__dict__.get("_cache", {}).values()]
        for iterator in live + self.__dict__.pop("_resumed", []):
            iterator.close()  # stops the worker processes
        super().close()
        if self.__dict__.get("_scratch_root") is not None:
            shutil.rmtree(self.__dict__.pop("_scratch_root"), ignore_errors=True)
