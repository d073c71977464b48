"""PyTorch ``DataLoader``: a sampler of shuffled ids → a map-style dataset in worker processes →
collation → torch ops (``adapters.torch_ops``) → delivery. Two configurations:

- ``torch``: as PyTorch's data tutorial writes it
  (https://pytorch.org/tutorials/beginner/basics/data_tutorial.html): ``__getitem__`` reads one
  record and runs the per-record transforms on it, ``num_workers = job.cpu_budget`` processes
  (``persistent_workers=True``), ``default_collate`` stacks the batch, and MixUp/CutMix run on
  the collated batch, as torchvision's v2 docs place them
  (https://pytorch.org/vision/stable/auto_examples/transforms/plot_cutmix_mixup.html);
- ``torch-batched``: the expert's batched form the data reference describes
  (https://pytorch.org/docs/stable/data.html): a ``batch_sampler`` hands whole batches to the
  dataset's ``__getitems__`` (batched fetching), which runs every transform once per batch (one
  ``grid_sample`` for all RandomResizedCrops of a batch); cheap vectorized work runs
  in-process (``num_workers=0``, ``torch.set_num_threads(job.cpu_budget)``), where worker IPC
  would cost more than the work.

A record's random parameters are keyed by (seed, epoch, id), so both give the same draws
whatever the worker count. The scenario shapes (mixing sampler, ragged ``collate_fn``,
in-dataset cache, rebatching, views) are in ``adapters.torch_pipeline``; IO-3, NLP-2 and IO-4
run the same pipeline in both configurations. IO-1's backends: memory-mapped files, arrays in
RAM, the ArrayRecord file or the Parquet file (row groups by pyarrow).

PR-1 checkpoints with ``torchdata.stateful_dataloader.StatefulDataLoader``, the drop-in
``DataLoader`` whose ``state_dict``/``load_state_dict`` capture the sampler's and the workers'
positions (``snapshot_every_n_steps=1``, so the state matches the consumer's last batch); its
batches are put on the device in the consumer's ``next()``, so nothing is read ahead outside it.

Delivery: on a CUDA machine the ``DataLoader`` pins its batches (``pin_memory=True``, PyTorch's
documented path to a fast host→device copy); batches then go through the shared overlapped
``jax.device_put`` (``adapters._delivery``) onto ``job.sharding()`` (a mesh for DIST-1/2).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from adapters import _formats
from adapters._delivery import deliver, put
from adapters._records import as_is
from adapters.base import Job, LibraryAdapter

_HANDLED = frozenset({
    "stochastic_per_element", "exact_reference", "outcomes", "source_backends", "mixing", "variable_length",
    "batch_mixing", "rebatching", "caching", "parallel_views", "checkpoint", "device_sharding",
})
_STATE_FILE = "dataloader_state.pt"
# The transforms adapters.torch_ops implements, and the cheap elementwise ones among them (a
# batch of those costs less than handing it to a worker process).
SUPPORTED = frozenset({
    "random_resized_crop", "random_horizontal_flip", "normalize", "shift_tokens", "standardize", "multiply", "add",
    "clip", "log1p", "hash_to_vocabulary", "pad_to_length", "pad_to_bucket", "attention_mask", "random_crop_3d",
    "zscore", "random_rotate", "random_crop", "multi_scale_resize", "random_window", "log_mel", "mixup", "cutmix",
    "random_apply", "box_blur",
})
CHEAP = frozenset({"normalize", "shift_tokens", "standardize", "multiply", "add", "clip", "log1p",
                   "hash_to_vocabulary", "pad_to_length", "pad_to_bucket", "attention_mask"})


class CheckpointableBatches:
    """A ``StatefulDataLoader``'s batches put on the device one by one in ``next()``: its
    ``state_dict()`` is then the consumer's position."""

    def __init__(self, loader, job: Job):
        self.loader = loader
        self._iterator = iter(loader)
        self._sharding = job.sharding() if job.on_device else None

    def __iter__(self) -> "CheckpointableBatches":
        return self

    def __next__(self) -> dict[str, Any]:
        batch = next(self._iterator)
        if self._sharding is None:
            return {k: v.numpy() for k, v in batch.items()}
        return put(batch, self._sharding)

    def close(self) -> None:
        shutdown = getattr(self._iterator, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()
        self._iterator = None


class TorchAdapter(LibraryAdapter):
    name = library = "torch"
    label = ("PyTorch DataLoader as its tutorials write it: per-record __getitem__ (torch ops) in worker "
             "processes → default_collate (MixUp/CutMix after it) → delivery")
    fetch = "record"  # how a plain map-style scenario fetches: "record" (__getitem__) or "batch" (__getitems__)
    requires = ("torchdata",)
    capabilities = _HANDLED
    capability_reasons = {
        "differentiable_pipeline": "a DataLoader runs its transforms in torch, outside JAX: no gradient of a "
        "JAX loss reaches a pipeline stage's parameters (PC-5 is datarax-only)",
        "multi_process": "the torch adapter runs in one process; a multi-process JAX job needs a per-process "
        "shard assembled with jax.make_array_from_process_local_data",
    }
    backends = frozenset({"npy", "memory", "array_record", "parquet"})

    ops, ops_kind = SUPPORTED, "torch implementation"

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def _scratch(self) -> Path:
        if getattr(self, "_scratch_dir", None) is None:
            self._scratch_dir = Path(tempfile.mkdtemp(prefix="torch-cache-"))
        return self._scratch_dir

    def _loader(self, job: Job, stateful: bool = False):
        import torch

        from adapters import torch_pipeline as tp

        torch.set_num_threads(job.cpu_budget)
        variant, params = job.variant, dict(job.variant.params)
        transforms = job.scenario.transforms(variant)
        workers = job.cpu_budget if any(t.name not in CHEAP for t in transforms) else 0
        collate = as_is
        if "weights" in params:
            dataset = tp.MixedSources(job)
            sampler = tp.MixingBatches(dataset.counts, params["weights"], variant.batch_size, job.seed, job.shuffle)
        elif "offsets" in job.data:
            dataset, collate = tp.RaggedRecords(job), tp.PadToBucket(job)
            sampler = tp.EndlessBatches(len(dataset), variant.batch_size, job.seed, job.shuffle)
        elif "cache" in params:  # the cache lives in this process's dataset: no workers
            dataset, workers = tp.CachedRecords(job, self._scratch()), 0
            sampler = tp.EndlessBatches(len(dataset), variant.batch_size, job.seed, job.shuffle)
        else:
            size = params.get("source_batch", variant.batch_size)
            shuffle = job.shuffle and not params.get("ordered", False)
            sampler = tp.EndlessBatches(variant.num_records, size, job.seed, shuffle)
            if self.fetch == "record":
                dataset, sampler, collate = tp.PerRecord(job), tp.RecordRequests(sampler), tp.CollateThenMix(job)
                workers = job.cpu_budget
            else:
                dataset = tp.BatchedRecords(job)
        loader_class = torch.utils.data.DataLoader
        extra = {}
        if stateful:
            from torchdata.stateful_dataloader import StatefulDataLoader

            loader_class, extra = StatefulDataLoader, {"snapshot_every_n_steps": 1}
        return loader_class(
            dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers, persistent_workers=workers > 0,
            pin_memory=job.on_device and job.platform == "gpu" and torch.cuda.is_available(), **extra,
        )

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        if "checkpoint" in job.scenario.capabilities:
            return CheckpointableBatches(self._loader(job, stateful=True), job)
        loader = self.cached(job, lambda: self._loader(job))  # close() drops it, stopping its workers
        batches = iter(loader)
        if "source_batch" in dict(job.variant.params):
            from adapters.torch_pipeline import rebatched

            batches = rebatched(batches, job.variant.batch_size)
        return deliver(batches, job)

    def save_checkpoint(self, job: Job, iterator: Iterator[dict], directory: Path) -> None:
        """PR-1: the ``StatefulDataLoader``'s ``state_dict()``, written with ``torch.save``."""
        import torch

        if not isinstance(iterator, CheckpointableBatches):
            raise TypeError(f"save_checkpoint takes an iterator opened for {job.scenario_id}'s checkpoint, "
                            f"got {type(iterator).__name__}")
        torch.save(iterator.loader.state_dict(), Path(directory) / _STATE_FILE)

    def resume(self, job: Job, directory: Path) -> Iterator[dict]:
        """PR-1: a fresh ``StatefulDataLoader`` (what a restarted trainer builds), its state loaded."""
        import torch

        loader = self._loader(job, stateful=True)
        loader.load_state_dict(torch.load(Path(directory) / _STATE_FILE, weights_only=False))
        return CheckpointableBatches(loader, job)

    def close(self) -> None:
        super().close()
        if getattr(self, "_scratch_dir", None) is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None


class TorchBatchedAdapter(TorchAdapter):
    name = "torch-batched"
    label = ("PyTorch DataLoader: batch_sampler → batched __getitems__ → whole-batch torch ops (grid_sample "
             "crops/rotation, interpolate, stft) in worker processes, cheap ones in-process → delivery")
    fetch = "batch"
