"""PyTorch ``DataLoader``: a batch sampler of shuffled ids → batched ``__getitems__`` in workers.

The dataset reads a whole batch with one gather (``__getitems__``), then runs random
per-record work (crop, flip) record by record in torch ops (``interpolate`` bilinear with
``align_corners=False``, ``flip``; no torchvision) and deterministic work on the whole batch.
Random parameters are keyed by (seed, epoch, record id): the batch sampler hands each batch its
epoch, so the result does not depend on the worker count. Per-record work runs in
``job.cpu_budget`` persistent worker processes; cheap vectorized work (no random transform)
runs in-process (``num_workers=0``), which the PyTorch docs' own guidance favours for
in-memory data. IO-1's backends: the dataset reads memory-mapped files, arrays loaded into RAM,
or the ArrayRecord file (array_record's random-access source, one batched read per batch) or
the Parquet file (row groups decoded by pyarrow).

Delivery: on a CUDA machine the ``DataLoader`` pins its batches (``pin_memory=True``, PyTorch's
documented path to a fast host→device copy); the batches then go through the shared overlapped
``jax.device_put`` (``adapters._delivery``) onto the job's device. On the CPU nothing is pinned.
"""

from __future__ import annotations

from typing import Any, Iterator

from adapters import _formats
from adapters._delivery import deliver
from adapters._element_ops import crop_box, record_uniforms
from adapters._records import EpochBatches, NpyRecords, as_is
from adapters.base import Job, LibraryAdapter
from scenarios import Transform

UNIFORMS = {"random_resized_crop": 22, "random_horizontal_flip": 1}
SUPPORTED = frozenset({*UNIFORMS, "normalize", "shift_tokens", "standardize", "multiply", "add", "clip"})


def _apply(torch, t: Transform, value, u):
    kw = t.kwargs
    if t.name == "random_resized_crop":
        top, left, h, w = crop_box(u.tolist(), value.shape[0], value.shape[1], kw["scale"], kw["ratio"])
        window = value[top : top + h, left : left + w].permute(2, 0, 1)[None].float()
        resized = torch.nn.functional.interpolate(window, size=tuple(kw["size"]), mode="bilinear", align_corners=False)
        return resized[0].permute(1, 2, 0)
    if t.name == "random_horizontal_flip":
        return value.flip(1) if u[0] < kw["p"] else value
    if t.name == "normalize":
        mean, std = torch.tensor(kw["mean"]), torch.tensor(kw["std"])
        return (value.float() * kw["scale"] - mean) / std
    if t.name == "standardize":
        return (value.float() - torch.tensor(kw["mean"])) / torch.tensor(kw["std"])
    if t.name == "shift_tokens":
        return {"inputs": value[:, :-1], "targets": value[:, 1:]}
    if t.name == "multiply":
        return value.float() * kw["factor"]
    if t.name == "add":
        return value.float() + kw["value"]
    if t.name == "clip":
        return value.float().clamp(kw["low"], kw["high"])
    raise ValueError(f"no torch implementation of {t.name!r}")


class Records:
    """Map-style dataset over the job's ``.npy`` files with a batched ``__getitems__``."""

    def __init__(self, records: NpyRecords, transforms: tuple[Transform, ...], seed: int):
        self.records, self.transforms, self.seed = records, transforms, seed

    def __len__(self) -> int:
        return len(self.records)

    def __getitems__(self, request) -> dict[str, Any]:
        import torch

        epoch, ids = request
        batch = {k: torch.from_numpy(v) for k, v in self.records.gather(ids).items()}
        count = sum(UNIFORMS.get(t.name, 0) for t in self.transforms)
        u = record_uniforms(self.seed, epoch, ids, count) if count else None
        offset = 0
        for t in self.transforms:
            value = batch.pop(t.field)
            if t.name in UNIFORMS:
                n = UNIFORMS[t.name]
                out = torch.stack([_apply(torch, t, value[i], u[i, offset : offset + n]) for i in range(len(ids))])
                offset += n
            else:
                out = _apply(torch, t, value, None)
            batch.update(out if isinstance(out, dict) else {t.field: out})
        return batch


class TorchAdapter(LibraryAdapter):
    name = library = "torch"
    ops, ops_kind = SUPPORTED, "torch implementation"
    backends = frozenset({"npy", "memory", "array_record", "parquet"})

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def _loader(self, job: Job):
        import torch

        torch.set_num_threads(job.cpu_budget)
        variant = job.variant
        transforms = job.scenario.transforms(variant)
        workers = job.cpu_budget if any(t.name in UNIFORMS for t in transforms) else 0
        return torch.utils.data.DataLoader(
            Records(_formats.records(job), transforms, job.seed),
            batch_sampler=EpochBatches(variant.num_records, variant.batch_size, job.seed, job.shuffle),
            collate_fn=as_is,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=job.on_device and job.platform == "gpu" and torch.cuda.is_available(),
        )

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        return deliver(self._batches(job), job)

    def _batches(self, job: Job) -> Iterator[dict[str, Any]]:
        loader = self.cached(job, lambda: self._loader(job))  # close() drops it, stopping its workers
        epoch = 0
        while True:
            loader.batch_sampler.set_epoch(epoch)
            yield from loader
            epoch += 1
