"""The PyTorch ``DataLoader`` pipelines of the torch adapter: a batch sampler → a map-style
dataset's batched ``__getitems__`` (or a ``collate_fn``) → whole-batch torch ops.

PyTorch's data docs (https://pytorch.org/docs/stable/data.html) give the pieces used here: a
``batch_sampler`` yields a batch's indices, ``Dataset.__getitems__`` fetches a batch at once
("batched fetching", preferred by the fetcher over per-index ``__getitem__``), ``collate_fn``
turns the samples into a batch (here: NLP-2's ragged rows padded with ``pad_sequence``),
``num_workers`` processes run fetch + collate in parallel. Each request a sampler yields is
``(epoch, ids)``, so a worker keys its random draws by them without shared state.

The scenarios' graph shapes in torch terms: IO-3 mixes its sources with a batch sampler whose
``WeightedRandomSampler`` draws each row's source with the scenario's weights, the row then
being the next of that source's shuffled epoch; IO-4 caches the transformed
records inside the dataset (filled as batches first touch them, in RAM or a memory-mapped file);
PC-3 regroups source batches of ``source_batch`` rows into batches of ``batch_size`` by
``torch.cat``/``split``; PC-2 runs the transforms once per view with the view's seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from adapters import _formats
from adapters._records import epoch_order
from adapters.base import Job
from adapters.torch_ops import apply


BATCH_LEVEL = frozenset({"mixup", "cutmix"})  # transforms that pair records of a batch


def first_batch_level(transforms) -> int:
    """Where the batch-level tail of ``transforms`` starts (their length when none)."""
    return next((i for i, t in enumerate(transforms) if t.name in BATCH_LEVEL), len(transforms))


def view_seed(seed: int, view: int) -> int:
    return int(np.random.SeedSequence([seed, view, 2]).generate_state(1)[0])


class EndlessBatches:
    """A batch sampler yielding ``(epoch, ids)`` forever, epoch after epoch (remainder dropped),
    in the seeded order of ``adapters._records.epoch_order``: one iterator spans every epoch, so
    ``StatefulDataLoader`` checkpoints one position."""

    def __init__(self, num_records: int, batch_size: int, seed: int, shuffle: bool = True):
        self.num_records, self.batch_size, self.seed, self.shuffle = num_records, batch_size, seed, shuffle

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        per_epoch, size = self.num_records // self.batch_size, self.batch_size
        epoch = 0
        while True:
            order = epoch_order(self.num_records, self.seed, epoch, self.shuffle)
            for i in range(per_epoch):
                yield epoch, order[i * size : (i + 1) * size]
            epoch += 1


class MixingBatches:
    """IO-3's batch sampler: each row's source drawn by a ``WeightedRandomSampler`` over the
    sources with the scenario's weights, then the next id of that source's own shuffled epoch
    (so no record repeats within its source's epoch); ids are rows of the sources stacked in
    order, as a ``ConcatDataset`` numbers them."""

    def __init__(self, counts: list[int], weights, batch_size: int, seed: int, shuffle: bool = True):
        self.counts, self.batch_size, self.seed, self.shuffle = counts, batch_size, seed, shuffle
        self.weights = [float(w) for w in weights]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        sources = torch.utils.data.WeightedRandomSampler(
            self.weights, self.batch_size, replacement=True, generator=torch.Generator().manual_seed(self.seed))
        epochs = [0] * len(self.counts)
        orders = [epoch_order(n, self.seed * 16 + s, 0, self.shuffle) for s, n in enumerate(self.counts)]
        cursors = [0] * len(self.counts)
        batch = 0
        while True:
            choice = np.fromiter(sources, np.int64, self.batch_size)
            rows = np.empty(self.batch_size, np.int64)
            for s, n in enumerate(self.counts):
                where = np.flatnonzero(choice == s)
                taken = []
                need = len(where)
                while need:
                    if cursors[s] == n:
                        epochs[s] += 1
                        orders[s], cursors[s] = epoch_order(n, self.seed * 16 + s, epochs[s], self.shuffle), 0
                    part = orders[s][cursors[s] : cursors[s] + need]
                    cursors[s] += len(part)
                    need -= len(part)
                    taken.append(part)
                rows[where] = np.concatenate(taken) + offsets[s] if taken else []
            yield batch, rows
            batch += 1


class BatchedRecords(torch.utils.data.Dataset):
    """The job's records with a batched ``__getitems__``: one gather per field, then the
    scenario's transforms on the whole batch (once per view for PC-2)."""

    def __init__(self, job: Job):
        self.records = _formats.records(job)
        self.transforms = job.scenario.transforms(job.variant)
        self.seed = job.seed
        self.views = dict(job.variant.params).get("views")

    def __len__(self) -> int:
        return len(self.records)

    def __getitems__(self, request) -> dict[str, torch.Tensor]:
        epoch, ids = request
        batch = {k: torch.from_numpy(np.asarray(v)) for k, v in self.records.gather(ids).items()}
        if self.views is None:
            return apply(self.transforms, batch, self.seed, epoch, ids)
        outs = [apply(self.transforms, batch, view_seed(self.seed, v), epoch, ids) for v in range(self.views)]
        changed = {t.field for t in self.transforms}
        return {k: torch.stack([o[k] for o in outs], 1) if k in changed else outs[0][k] for k in outs[0]}


class RecordRequests:
    """A batch sampler yielding each batch as a list of ``(epoch, id)`` requests, one per record,
    from a sampler of ``(epoch, ids)`` batches: the ``DataLoader`` fetches them one by one with
    ``__getitem__`` and hands the list to its ``collate_fn``."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        for epoch, ids in self.batches:
            yield [(epoch, i) for i in ids.tolist()]


class PerRecord(torch.utils.data.Dataset):
    """The job's records one by one, as PyTorch's tutorials write a dataset: ``__getitem__``
    reads a record and runs the scenario's per-record transforms on it (as a batch of one); the
    batch-level ones (MixUp/CutMix) run in :class:`CollateThenMix`, as torchvision's docs place
    them after the ``DataLoader``'s collation."""

    def __init__(self, job: Job):
        self.records = _formats.records(job)
        transforms = job.scenario.transforms(job.variant)
        self.per_record = transforms[: first_batch_level(transforms)]
        self.seed = job.seed
        self.views = dict(job.variant.params).get("views")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, request) -> dict[str, torch.Tensor]:
        epoch, index = request
        ids = np.array([index])
        batch = {k: torch.from_numpy(np.asarray(v)) for k, v in self.records.gather(ids).items()}
        if self.views is None:
            out = apply(self.per_record, batch, self.seed, epoch, ids)
        else:
            outs = [apply(self.per_record, batch, view_seed(self.seed, v), epoch, ids) for v in range(self.views)]
            changed = {t.field for t in self.per_record}
            out = {k: torch.stack([o[k] for o in outs], 1) if k in changed else outs[0][k] for k in outs[0]}
        return {**{k: v[0] for k, v in out.items()}, "_epoch": epoch, "_id": index}


class CollateThenMix:
    """A ``collate_fn``: ``default_collate`` of the records, then the batch-level transforms."""

    def __init__(self, job: Job):
        transforms = job.scenario.transforms(job.variant)
        self.first_step = first_batch_level(transforms)
        self.batch_level = transforms[self.first_step :]
        self.seed = job.seed

    def __call__(self, samples) -> dict[str, torch.Tensor]:
        batch = torch.utils.data.default_collate(samples)
        epoch, ids = int(batch.pop("_epoch")[0]), batch.pop("_id").numpy()
        return apply(self.batch_level, batch, self.seed, epoch, ids, first_step=self.first_step)


class MixedSources(torch.utils.data.Dataset):
    """IO-3's sources as one table of rows (source ``s``'s rows follow those before it): a batch
    is gathered source by source into its rows' positions."""

    def __init__(self, job: Job):
        arrays = job.arrays()
        self.names = sorted({k.split("_", 1)[0] for k in arrays})
        self.fields = sorted({k.split("_", 1)[1] for k in arrays})
        self.sources = [{f: arrays[f"{d}_{f}"] for f in self.fields} for d in self.names]
        self.counts = [len(s[self.fields[0]]) for s in self.sources]

    def __len__(self) -> int:
        return sum(self.counts)

    def __getitems__(self, request) -> dict[str, torch.Tensor]:
        _, rows = request
        out = {f: np.empty((len(rows), *self.sources[0][f].shape[1:]), self.sources[0][f].dtype) for f in self.fields}
        start = 0
        for source, n in zip(self.sources, self.counts):
            mine = np.flatnonzero((rows >= start) & (rows < start + n))
            for f in self.fields:
                out[f][mine] = source[f][rows[mine] - start]
            start += n
        return {f: torch.from_numpy(v) for f, v in out.items()}


class RaggedRecords(torch.utils.data.Dataset):
    """NLP-2's ragged token store: ``__getitems__`` reads each record's tokens (views of the
    memory-mapped store); :class:`PadToBucket` is the ``collate_fn`` that pads them."""

    def __init__(self, job: Job):
        arrays = job.arrays()
        self.tokens, self.offsets = arrays["tokens"], np.asarray(arrays["offsets"])
        self.columns = {k: a for k, a in arrays.items() if k not in ("tokens", "offsets")}

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitems__(self, request):
        epoch, ids = request
        rows = [torch.tensor(self.tokens[self.offsets[i] : self.offsets[i + 1]]) for i in ids.tolist()]
        return epoch, ids, rows, {k: torch.from_numpy(np.asarray(a[ids])) for k, a in self.columns.items()}


class PadToBucket:
    """A ``collate_fn``: ragged rows padded by ``pad_sequence`` to the batch's longest row rounded
    up to ``bucket_size`` (at most ``max_len``), then the scenario's later transforms."""

    def __init__(self, job: Job):
        transforms = job.scenario.transforms(job.variant)
        self.pad = dict(next(t for t in transforms if t.name == "pad_to_bucket").kwargs)
        self.later = tuple(t for t in transforms if t.name != "pad_to_bucket")
        self.seed = job.seed

    def __call__(self, fetched) -> dict[str, torch.Tensor]:
        epoch, ids, rows, columns = fetched
        bucket, max_len, value = self.pad["bucket_size"], self.pad["max_len"], self.pad["pad_value"]
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int32)
        width = min(-(-max(int(lengths.max()), 1) // bucket) * bucket, max_len)
        tokens = torch.nn.utils.rnn.pad_sequence([r[:width] for r in rows], batch_first=True, padding_value=value)
        tokens = torch.nn.functional.pad(tokens, (0, width - tokens.shape[1]), value=value)
        batch = {**columns, "tokens": tokens, self.pad["length_field"]: lengths}
        return apply(self.later, batch, self.seed, epoch, ids)


class CachedRecords(BatchedRecords):
    """IO-4: each record's transformed value kept in the dataset the first time a batch reads it
    (``cache = "memory"``: a tensor in RAM; ``"disk"``: a memory-mapped ``.npy`` file in
    ``folder``), so later epochs gather the cached rows and skip the transforms."""

    def __init__(self, job: Job, folder: Path):
        super().__init__(job)
        n = len(self.records)
        first = apply(self.transforms, {k: torch.from_numpy(np.asarray(v)) for k, v in self.records.gather(np.arange(1)).items()},
                      self.seed, 0, np.arange(1))
        self.cached_fields = {t.field for t in self.transforms}
        store = job.variant.param("cache")
        self.store = {}
        for k in self.cached_fields:
            shape, dtype = (n, *first[k].shape[1:]), first[k].numpy().dtype
            if store == "disk":
                self.store[k] = np.lib.format.open_memmap(Path(folder) / f"{k}.npy", mode="w+", dtype=dtype, shape=shape)
            else:
                self.store[k] = np.empty(shape, dtype)
        self.filled = np.zeros(n, bool)

    def __getitems__(self, request) -> dict[str, torch.Tensor]:
        epoch, ids = request
        batch = {k: np.asarray(v) for k, v in self.records.gather(ids).items()}
        missing = ids[~self.filled[ids]]
        if len(missing):
            fresh = apply(self.transforms, {k: torch.from_numpy(np.asarray(v)) for k, v in self.records.gather(missing).items()},
                          self.seed, epoch, missing)
            for k in self.cached_fields:
                self.store[k][missing] = fresh[k].numpy()
            self.filled[missing] = True
        batch.update({k: self.store[k][ids] for k in self.cached_fields})
        return {k: torch.from_numpy(v) for k, v in batch.items()}


def rebatched(batches: Iterator[dict[str, Any]], size: int) -> Iterator[dict[str, torch.Tensor]]:
    """PC-3: batches of any size regrouped into batches of ``size`` rows across their
    boundaries (``torch.cat`` of the carried rows and the next batch, ``split``)."""
    carry: dict[str, torch.Tensor] | None = None
    for batch in batches:
        carry = batch if carry is None else {k: torch.cat([carry[k], batch[k]]) for k in batch}
        rows = len(next(iter(carry.values())))
        whole = rows // size * size
        if whole:
            pieces = {k: v[:whole].split(size) for k, v in carry.items()}
            for i in range(whole // size):
                yield {k: p[i] for k, p in pieces.items()}
        carry = {k: v[whole:] for k, v in carry.items()}
