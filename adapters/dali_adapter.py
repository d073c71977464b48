"""NVIDIA DALI: ``external_source`` of shuffled batches → DALI CPU operators, ``job.cpu_budget`` threads.

The records enter through ``fn.external_source`` with a batch callback taking DALI's
``BatchInfo`` (``adapters.dali_sources``): DALI's documented way to feed data it has no reader
for, and the form it checkpoints. The callback is one vectorized gather per field per batch,
so it runs in the Python thread that drives the pipeline (DALI calls it ahead, for its prefetch
queue); DALI's parallel external source (``parallel=True``, Python worker processes; its
tutorial, parallel_external_source.html) pays off for heavy per-sample Python work such as
decoding, and here would only copy the gathered batch once more through shared memory. Every transform is a DALI operator working
per sample on ``num_threads=job.cpu_budget`` threads (``adapters.dali_ops``). ``device_id=None``
runs DALI without a GPU (the only CPU-only mode DALI 2.x accepts).

The scenarios' graph shapes in DALI's terms: IO-3's weighted mix and PC-3's regrouping of
source blocks happen where the records enter (the external source; DALI has no mixing or
rebatching operator for external data), NLP-2's ragged records are a ragged batch padded by
``fn.pad(align=bucket)``, PC-2's two views are two operator paths over one input stacked by
``fn.stack``, CV-3 mixes each row with its ``permute_batch`` partner, IO-4 runs its transforms
once through a DALI pipeline and serves the cached records (memory, or a memory-mapped file)
through another, PR-1 checkpoints the pipeline (``enable_checkpointing=True``, the JAX
iterator's ``checkpoints()``, rebuilt with ``checkpoint=``; DALI's checkpointing guide,
https://docs.nvidia.com/deeplearning/dali/user-guide/docs/advanced_topics_checkpointing.html).

Delivery: DALI's JAX plugin iterator (``nvidia.dali.plugin.jax.DALIGenericIterator``, DALI's
documented JAX path) hands out each batch as ``jax.Array``s on the pipeline's device: the CPU
here, and on a GPU profile (untested here: this machine has none) the GPU given as
``device_id``, the outputs copied there by DALI itself (``.gpu()``; the operators stay on the
CPU). A multi-device mesh (DIST-1/2) gets host outputs assembled into global arrays by the
shared overlapped helper (``adapters._delivery``), as does ``delivery = "host"``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters import _formats
from adapters._delivery import deliver, put
from adapters._records import HANDLED_CAPABILITIES
from adapters.base import Job, LibraryAdapter
from adapters.dali_ops import SUPPORTED, graph
from adapters.dali_sources import EpochBatches, MixedBatches, RaggedBatches, Regrouped, StoredOrder

# DALI's layout of each input field, by rank (volumes are depth-height-width, images HWC).
_LAYOUTS = {"volume": "DHW"}
_CHECKPOINT = "pipeline.cpt"


def _layout(name: str, rank: int) -> str:
    return _LAYOUTS.get(name, "HWC") if rank == 3 else ""


class CheckpointableBatches:
    """A checkpointing DALI pipeline's batches, put on the device one by one in ``next()``:
    nothing is read ahead outside DALI, so ``pipe.checkpoint()`` is the consumer's position."""

    def __init__(self, pipe, names: list[str], job: Job):
        self.pipe, self._names = pipe, names
        self._sharding = job.sharding() if job.on_device else None

    def __iter__(self) -> "CheckpointableBatches":
        return self

    def __next__(self) -> dict[str, Any]:
        host = {name: out.as_array() for name, out in zip(self._names, self.pipe.run())}
        return host if self._sharding is None else put(host, self._sharding)


class DaliAdapter(LibraryAdapter):
    name = "dali"
    library, distribution = "nvidia.dali", "nvidia-dali-cuda120"
    ops, ops_kind = SUPPORTED, "DALI operator"
    label = ("DALI pipeline: batched external_source in the seeded epoch order, DALI per-sample operators on "
             "job.cpu_budget threads, delivered by DALI's JAX iterator")
    backends = frozenset({"npy", "memory", "array_record", "parquet"})
    capabilities = HANDLED_CAPABILITIES | {
        "device_sharding", "mixing", "variable_length", "batch_mixing", "rebatching", "caching", "parallel_views",
        "checkpoint",
    }
    capability_reasons = {
        "differentiable_pipeline": "DALI runs its operators in its own C++ executor, outside JAX: no gradient of a "
        "JAX loss reaches a pipeline stage's parameters (PC-5 is datarax-only)",
    }

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        if "caching" in job.scenario.capabilities:
            return self._cached(job)
        checkpointing = "checkpoint" in job.scenario.capabilities
        pipe, names = self._pipeline(job, self._source(job), checkpointing=checkpointing)
        return self._batches(pipe, names, job)

    def save_checkpoint(self, job: Job, iterator: Iterator[dict], directory: Path) -> None:
        """PR-1: DALI's serialized pipeline checkpoint (its random generators and the external
        source's iteration) at the consumer's batch: the JAX iterator's ``checkpoints()``, or
        ``Pipeline.checkpoint`` behind host batches."""
        if isinstance(iterator, CheckpointableBatches):
            state = iterator.pipe.checkpoint()
        elif callable(getattr(iterator, "checkpoints", None)):
            (state,) = iterator.checkpoints()
        else:
            raise TypeError(f"save_checkpoint takes an iterator opened for {job.scenario_id}'s checkpoint, "
                            f"got {type(iterator).__name__}")
        (Path(directory) / _CHECKPOINT).write_bytes(state.encode() if isinstance(state, str) else state)

    def resume(self, job: Job, directory: Path) -> Iterator[dict]:
        """PR-1: the pipeline built again (what a restarted trainer does) from the saved checkpoint."""
        checkpoint = (Path(directory) / _CHECKPOINT).read_bytes()
        pipe, names = self._pipeline(job, self._source(job), checkpointing=True, checkpoint=checkpoint)
        return self._batches(pipe, names, job)

    @staticmethod
    def _batches(pipe, names: list[str], job: Job) -> Iterator[dict[str, Any]]:
        """The pipeline's batches where ``job`` delivers them: on one device by DALI's JAX plugin
        iterator (DALI's documented JAX path; it keeps DALI's prefetch queue and checkpoints at
        the consumer's batch), else as host arrays (``delivery = "host"``, or a mesh, whose
        global arrays the shared helper assembles; a checkpointing pipeline's are put in the
        consumer's ``next()`` so its checkpoint is the consumer's position)."""
        checkpointing = "checkpoint" in job.scenario.capabilities
        if job.on_device and len(job.sharding().device_set) == 1:
            from jax.sharding import SingleDeviceSharding
            from nvidia.dali.plugin.jax import DALIGenericIterator

            sharding = job.sharding()  # a one-device mesh (DIST-1's) is named so that its arrays carry it
            return DALIGenericIterator(pipe, names, size=-1,  # the external source never ends
                                       sharding=None if isinstance(sharding, SingleDeviceSharding) else sharding)
        if checkpointing:
            return CheckpointableBatches(pipe, names, job)
        return deliver(DaliAdapter._run(pipe, names), job)

    @staticmethod
    def _source(job: Job):
        """The external source callback for ``job``'s records."""
        fields = [f.name for f in job.scenario.input_fields(job.variant)]
        params = dict(job.variant.params)
        if "weights" in params:
            return MixedBatches(job.arrays(), job.scenario.datasets, job)
        if "offsets" in fields:
            return RaggedBatches(job.arrays(), [f for f in fields if f != "offsets"], job)
        if "source_batch" in params:
            return Regrouped(job.arrays(), fields, job)
        records = _formats.records(job)
        getattr(records, "arrays", None)  # map the files now, before DALI's threads start
        return EpochBatches(records.gather, fields, job)

    @staticmethod
    def _pipeline(job: Job, source, *, checkpointing: bool = False, checkpoint=None, transform: bool = True):
        """A built DALI pipeline over ``source`` and the output names: the scenario's transforms
        (``transform``), once per view for PC-2, ending at its output fields."""
        from nvidia.dali import fn, pipeline, types

        specs = {f.name: f for f in job.scenario.input_fields(job.variant)}
        on_gpu = job.on_device and job.platform == "gpu" and len(job.sharding().device_set) == 1
        device_id = next(iter(job.sharding().device_set)).local_hardware_id if on_gpu else None
        pipe = pipeline.Pipeline(
            batch_size=job.variant.batch_size, num_threads=job.cpu_budget, device_id=device_id,
            seed=job.seed, prefetch_queue_depth=2, enable_checkpointing=checkpointing, checkpoint=checkpoint,
        )
        with pipe:
            layouts = [_layout(f, len(specs[f].shape) if f in specs else 0) for f in source.fields]
            inputs = fn.external_source(source=source, num_outputs=len(source.fields), batch=True, batch_info=True,
                                        layout=layouts)
            nodes = dict(zip(source.fields, inputs))
            views = dict(job.variant.params).get("views")
            if transform and views:  # independent operator paths (own random draws), stacked on a views axis
                paths = [graph(fn, types, job, dict(nodes)) for _ in range(views)]
                changed = {t.field for t in job.scenario.transforms(job.variant)}
                nodes = {k: fn.stack(*(p[k] for p in paths), axis=0) if k in changed else paths[0][k] for k in paths[0]}
            elif transform:
                nodes = graph(fn, types, job, nodes)
            names = [f.name for f in job.scenario.output_fields(job.variant)]  # the graph ends there
            pipe.set_outputs(*(nodes[n].gpu() if on_gpu else nodes[n] for n in names))
        pipe.build()
        return pipe, names

    def _cached(self, job: Job) -> Iterator[dict[str, Any]]:
        """IO-4: the transformed records, computed once per adapter by a DALI pipeline in
        stored order (at the first batch, so the first epoch pays for it), then served in each
        epoch's seeded order by a pipeline that only gathers from the cache."""
        cache = self.cached(job, dict)
        if not cache:
            cache.update(self._fill(job))
        source = EpochBatches(lambda ids: {k: a[ids] for k, a in cache.items()}, list(cache), job)
        pipe, names = self._pipeline(job, source, transform=False)
        yield from self._batches(pipe, names, job)

    def _fill(self, job: Job) -> dict[str, np.ndarray]:
        """Every record through the scenario's transforms, kept in RAM or in ``.npy`` files on
        disk (memory-mapped back), as the variant's ``cache`` says."""
        arrays = job.arrays()
        source = StoredOrder(arrays, list(arrays), job.variant.batch_size)
        pipe, names = self._pipeline(dataclasses.replace(job, shuffle=False, delivery="host"), source)  # host outputs
        specs = {f.name: f for f in job.scenario.output_fields(job.variant)}
        on_disk = job.variant.param("cache") == "disk"
        folder = Path(tempfile.mkdtemp(prefix=f"{job.scenario_id}-", dir=self._scratch())) if on_disk else None
        cache = {
            n: np.lib.format.open_memmap(folder / f"{n}.npy", mode="w+", dtype=specs[n].dtype,
                                         shape=(source.count, *specs[n].shape))
            if on_disk else np.empty((source.count, *specs[n].shape), specs[n].dtype)
            for n in names
        }
        start = 0
        try:
            while True:
                outputs = pipe.run()
                size = len(outputs[0])
                for name, out in zip(names, outputs):
                    cache[name][start:start + size] = out.as_array()
                start += size
        except StopIteration:
            pass
        finally:
            del pipe
        if start != source.count:
            raise RuntimeError(f"IO-4's cache got {start} of {source.count} records")
        if on_disk:
            for array in cache.values():
                array.flush()
            return {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in names}
        return cache

    def _scratch(self) -> Path:
        """A fresh folder for on-disk caches, removed by close()."""
        if getattr(self, "_scratch_dir", None) is None:
            self._scratch_dir = Path(tempfile.mkdtemp(prefix="dali-cache-"))
        return self._scratch_dir

    def close(self) -> None:
        super().close()
        if getattr(self, "_scratch_dir", None) is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None

    @staticmethod
    def _run(pipe, names: list[str]) -> Iterator[dict[str, Any]]:
        try:
            while True:
                yield {name: out.as_array() for name, out in zip(names, pipe.run())}
        finally:
            del pipe
