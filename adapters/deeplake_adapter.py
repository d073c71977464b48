"""Deep Lake 4: a dataset written once → batched column reads by id → PyTorch ``DataLoader``.

Records (plus their ids) are appended once per scenario variant to a local Deep Lake dataset
with fixed-shape typed columns. Deep Lake's own ``ds.pytorch()`` reads row by row; its
documented fast path is a column read with a list of indices, so a ``DataLoader`` batch sampler
hands each batch's shuffled ids to a dataset whose ``__getitems__`` reads every column once
(sorted ids, then put back in order), then runs the transforms with per-record random
parameters keyed by (seed, epoch, record id). Per-record work runs in ``job.cpu_budget``
persistent workers, each opening the dataset itself; cheap vectorized work stays in-process.

PR-1: the state is the batch sampler's position; a resumed loader's sampler starts there.

Delivery: the ``DataLoader``'s NumPy batches go through the shared overlapped
``jax.device_put`` (``adapters._delivery``).
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters._element_ops import OPS, RecordTransform
from adapters._delivery import deliver
from adapters._peer_state import SHARDED_CAPABILITIES, Position, load_state, positioned, save_state
from adapters._records import EpochBatches, as_is, converted, own_format_only
from adapters.base import Job, LibraryAdapter

ID = "__record_id__"
APPEND_ROWS = 8192  # rows per append while converting


class Columns:
    """Map-style dataset over a Deep Lake dataset, opened lazily once per process."""

    def __init__(self, url: str, fields: list[str], transform: RecordTransform, num_records: int):
        self.url, self.fields, self.transform, self.num_records = url, fields, transform, num_records
        self._opened: tuple[int, Any] | None = None

    def _dataset(self):
        if self._opened is None or self._opened[0] != os.getpid():  # never share across a fork
            import deeplake

            self._opened = (os.getpid(), deeplake.open_read_only(self.url))
        return self._opened[1]

    def __len__(self) -> int:
        return self.num_records

    def __getitems__(self, request: tuple[int, np.ndarray]) -> dict[str, np.ndarray]:
        epoch, ids = request
        order = np.argsort(ids)
        back = np.empty_like(order)
        back[order] = np.arange(len(ids))
        wanted = ids[order].tolist()
        dataset = self._dataset()
        batch = {name: np.asarray(dataset[name][wanted])[back] for name in self.fields}
        return self.transform.batch(batch, ids, epoch)

    def __getstate__(self):
        return {**self.__dict__, "_opened": None}


class _ResumableBatches(EpochBatches):
    """``EpochBatches`` whose next epoch may start at batch ``first`` (a resumed position)."""

    first = 0

    def __iter__(self):
        first, self.first = self.first, 0
        yield from itertools.islice(super().__iter__(), first, None)


class DeepLakeAdapter(LibraryAdapter):
    name = library = "deeplake"
    requires = ("torch",)
    ops = OPS
    backends = frozenset({"npy"})
    backend_reasons = own_format_only("Deep Lake dataset")
    capabilities = SHARDED_CAPABILITIES | {"checkpoint"}

    def available(self) -> str | None:
        if "tensorflow" in sys.modules and "deeplake" not in sys.modules:
            # Measured here: `import tensorflow; import deeplake` aborts the interpreter
            # (SIGABRT), the other order works. Cells run alone, so this only guards a
            # process that already holds TensorFlow.
            return "deeplake aborts the process when imported after TensorFlow; run it in its own process"
        return super().available()

    def prepare(self, job: Job) -> None:
        self._url(job)

    def _url(self, job: Job) -> str:
        """Writes the Deep Lake dataset once per scenario variant; returns its URL."""
        import deeplake

        def write(folder: Path) -> None:
            arrays = job.arrays()
            dataset = deeplake.create(f"file://{folder / 'dataset'}")
            dataset.add_column(ID, deeplake.types.Int64())
            for name, array in arrays.items():
                dtype, shape = str(array.dtype), list(array.shape[1:])
                dataset.add_column(name, deeplake.types.Array(dtype, shape=shape) if shape else dtype)
            ids = np.arange(job.variant.num_records)
            for start in range(0, len(ids), APPEND_ROWS):
                rows = slice(start, start + APPEND_ROWS)
                dataset.append({ID: ids[rows], **{k: np.asarray(a[rows]) for k, a in arrays.items()}})
            dataset.commit()

        return f"file://{converted(job.data, 'deeplake', write) / 'dataset'}"

    def _loader(self, job: Job):
        import torch

        variant = job.variant
        transform = RecordTransform(job.scenario.transforms(variant), job.seed)
        fields = [f.name for f in job.scenario.input_fields(variant)]
        workers = job.cpu_budget if transform.stochastic else 0
        return torch.utils.data.DataLoader(
            Columns(self._url(job), fields, transform, variant.num_records),
            batch_sampler=_ResumableBatches(variant.num_records, variant.batch_size, job.seed, job.shuffle),
            collate_fn=as_is,
            num_workers=workers,
            persistent_workers=workers > 0,
            # Deep Lake runs native threads once a dataset is open (here: written by prepare);
            # forking after that can deadlock a worker, so workers start from a clean server.
            multiprocessing_context="forkserver" if workers else None,
        )

    def open(self, job: Job, start: Position = Position()) -> Iterator[dict[str, Any]]:
        return positioned(self._batches(job, start), job, start, lambda batches: deliver(batches, job))

    def save_checkpoint(self, job: Job, iterator, directory) -> None:
        """PR-1: Deep Lake's reads keep no position, so the state is the batch sampler's:
        epoch and batches consumed."""
        save_state(iterator, directory)

    def resume(self, job: Job, directory) -> Iterator[dict[str, Any]]:
        """PR-1: the loader's sampler starts at the saved batch of the saved epoch."""
        return self.open(job, load_state(directory))

    def _batches(self, job: Job, start: Position) -> Iterator[dict[str, Any]]:
        loader = self.cached(job, lambda: self._loader(job))
        epoch = start.epoch
        loader.batch_sampler.first = start.batch
        while True:
            loader.batch_sampler.set_epoch(epoch)
            yield from loader
            epoch += 1
