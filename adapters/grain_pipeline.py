"""The Grain adapter's pipeline steps (``adapters.grain_adapter``): the batch sampler step, the
scenarios' shapes in Grain terms, all picklable (``mp_prefetch`` workers rebuild them).

- a batch is built by ``BatchStep`` (``map_with_index`` over batch numbers): ids from the epoch's
  permutation, one gather, the per-record transforms (``RecordTransform``);
- CV-3's MixUp/CutMix run after batching, as a batch-level ``.map`` (``BatchMix``), with the
  draws torch's ops make (``default_rng([step_seed(seed, step), epoch, first id])``, one
  ``λ ~ Beta(α, α)`` per row, partner the previous row) through the NumPy reference;
- PC-2's views: the transforms once per view with the view's seed (``Views``), stacked on axis 1;
- PC-3: ``source_batch``-row batches in stored order, regrouped by Grain's own
  ``grain.experimental.RebatchIterDataset`` (in the adapter);
- IO-4: the deterministic transforms computed once per record, the first time a batch reads it,
  and kept (``CachedTransform``: RAM or a memory-mapped ``.npy``) for the epochs after; Grain's
  own ``CacheIterDataset`` replays the first epoch's batches in the same order, which would drop
  the per-epoch shuffle, so the cache sits in the batch step;
- IO-3: ``grain.MapDataset.mix`` of one dataset of ``(source, id)`` per source (each endless,
  a fresh seeded permutation per pass), with the scenario's weights, then ``.batch`` and one
  gather per source (``MixedGather``). Grain's mix places the sources deterministically by
  their weights (each batch's share of ``b`` is 0.3 to within a row), not a draw per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters._element_ops import OPS, RecordTransform
from adapters._records import epoch_order
from adapters.base import Job

BATCH_LEVEL = frozenset({"mixup", "cutmix"})  # transforms that pair records of a batch


def step_seed(seed: int, step: int) -> int:
    """The seed of transform ``step``'s draws (``adapters.torch_ops.step_seed``'s)."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def view_seed(seed: int, view: int) -> int:
    """View ``view``'s seed (``adapters.torch_pipeline.view_seed``'s)."""
    return int(np.random.SeedSequence([seed, view, 2]).generate_state(1)[0])


def first_batch_level(transforms) -> int:
    """Where the batch-level tail of ``transforms`` starts (their length when none)."""
    return next((i for i, t in enumerate(transforms) if t.name in BATCH_LEVEL), len(transforms))


class Views:
    """PC-2: the per-record transforms once per view, each keyed by its view's seed; the fields
    they change get a views axis (axis 1), the others are the first view's."""

    def __init__(self, transforms, seed: int, views: int):
        self.paths = [RecordTransform(transforms, view_seed(seed, v)) for v in range(views)]
        self.changed = {t.field for t in transforms}

    @property
    def stochastic(self) -> bool:
        return any(p.stochastic for p in self.paths)

    def batch(self, batch, ids, epoch) -> dict[str, Any]:
        outs = [p.batch(batch, ids, epoch) for p in self.paths]
        return {k: np.stack([o[k] for o in outs], 1) if k in self.changed else outs[0][k] for k in outs[0]}


class CachedTransform:
    """IO-4: a batch's rows from the cache, the ones not yet in it computed (whole-batch: the
    box blur by ``scenarios.reference.filters``, the NumPy element ops) and stored; ``cache``
    ``memory`` keeps them in RAM, ``disk`` in memory-mapped ``.npy`` files in ``folder``. Lives in
    the adapter's process (deterministic work: no workers)."""

    stochastic = False

    def __init__(self, job: Job, folder):
        self.transforms = job.scenario.transforms(job.variant)
        self.disk, self.folder = job.variant.param("cache") == "disk", folder
        self.fields = {t.field for t in self.transforms}
        self.filled = np.zeros(job.variant.num_records, bool)
        self.store: dict[str, np.ndarray] = {}

    def _compute(self, batch) -> dict[str, np.ndarray]:
        from scenarios.reference import filters

        out = dict(batch)
        for t in self.transforms:
            if t.name == "box_blur":
                out[t.field] = filters.box_blur(out[t.field], t.kwargs["iterations"])
            else:
                out[t.field] = OPS[t.name][1](out[t.field], None, **t.kwargs)
        return out

    def _allocate(self, field: str, rows: np.ndarray) -> np.ndarray:
        shape = (len(self.filled), *rows.shape[1:])
        if self.disk:
            return np.lib.format.open_memmap(f"{self.folder}/{field}.npy", mode="w+", dtype=rows.dtype, shape=shape)
        return np.empty(shape, rows.dtype)

    def batch(self, batch, ids, epoch) -> dict[str, np.ndarray]:
        missing = ~self.filled[ids]
        if missing.any():
            fresh = self._compute({k: v[missing] for k, v in batch.items()})
            for k in self.fields:
                if k not in self.store:
                    self.store[k] = self._allocate(k, fresh[k])
                self.store[k][ids[missing]] = fresh[k]
            self.filled[ids[missing]] = True
        return {**batch, **{k: self.store[k][ids] for k in self.fields}}


def per_record_transform(job: Job):
    """The job's per-record work (the transforms before a batch-level tail), views for PC-2."""
    transforms = job.scenario.transforms(job.variant)
    head = transforms[: first_batch_level(transforms)]
    views = dict(job.variant.params).get("views")
    return RecordTransform(head, job.seed) if views is None else Views(head, job.seed, views)


class BatchStep:
    """``(index, _) -> batch`` number ``index`` of the endless stream; picklable (spawned workers
    rebuild it). Each process draws an epoch's permutation once, when it first needs it.
    ``keyed``: ``(epoch, ids, batch)``, for a batch-level step after it (``BatchMix``)."""

    def __init__(self, records, transform, job: Job, shard=None, keyed: bool = False):
        variant, params = job.variant, dict(job.variant.params)
        self.records, self.transform, self.keyed = records, transform, keyed
        self.num_records, self.seed = variant.num_records, job.seed
        self.shuffle = job.shuffle and not params.get("ordered", False)  # PC-3 reads in stored order
        # A process's shard (DIST-3): every shard_count-th record of the epoch's order,
        # Grain's ``ds[shard_index::shard_count]``, in batches of its share of the global batch.
        self.shard = (0, 1) if shard is None else (shard.shard_index, shard.shard_count)
        self.batch_size = params.get("source_batch", variant.batch_size) // self.shard[1]
        self.batches_per_epoch = variant.num_records // self.shard[1] // self.batch_size
        self._order: tuple[int, np.ndarray] | None = None

    def __call__(self, index: int, _):
        epoch, position = divmod(index, self.batches_per_epoch)
        if self._order is None or self._order[0] != epoch:
            order = epoch_order(self.num_records, self.seed, epoch, self.shuffle)
            self._order = (epoch, order[self.shard[0]::self.shard[1]])
        ids = self._order[1][position * self.batch_size : (position + 1) * self.batch_size]
        out = self.transform.batch(self.records.gather(ids), ids, epoch)
        return (epoch, ids, out) if self.keyed else out


class BatchMix:
    """CV-3's MixUp or CutMix on a whole batch, the step after batching: each row mixed with the
    previous one (cyclically), one ``λ ~ Beta(α, α)`` per row, labels one-hot and mixed with the
    kept share (``scenarios.reference.mixing``). Takes ``BatchStep``'s ``(epoch, ids, batch)``."""

    def __init__(self, job: Job):
        transforms = job.scenario.transforms(job.variant)
        first = first_batch_level(transforms)
        self.steps = [(step_seed(job.seed, step), t) for step, t in enumerate(transforms) if step >= first]
        for _, t in self.steps:
            if t.name not in BATCH_LEVEL or t.kwargs.get("partner") != "previous":
                raise ValueError(f"{t.name}: a batch-level step Grain's BatchMix runs is mixup/cutmix with partner "
                                 f"'previous', got {t}")

    def __call__(self, keyed) -> dict[str, Any]:
        from scenarios.reference import mixing

        epoch, ids, batch = keyed
        out = dict(batch)
        for seed, t in self.steps:
            kw = t.kwargs
            rng = np.random.default_rng([seed, epoch, int(ids[0])])
            mix = mixing.mixup if t.name == "mixup" else mixing.cutmix
            out[t.field], out[kw["label_field"]] = mix(out[t.field], out[kw["label_field"]], rng,
                                                       alpha=kw["alpha"], classes=kw["classes"])
        return out


class _SourceIds:
    """``(index, id) -> (source, id in that source's epoch order)`` over a repeated
    ``MapDataset.range(count)``: pass ``index // count`` is a fresh seeded permutation, so no
    record repeats within its source's epoch."""

    def __init__(self, source: int, count: int, seed: int, shuffle: bool):
        self.source, self.count, self.seed, self.shuffle = source, count, seed * 16 + source, shuffle
        self._order: tuple[int, np.ndarray] | None = None

    def __call__(self, index: int, position: int) -> tuple[int, int]:
        epoch = index // self.count
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_order(self.count, self.seed, epoch, self.shuffle))
        return self.source, int(self._order[1][position])


class MixedGather:
    """A batch of ``(source, id)`` pairs (``.batch`` stacks them: two arrays) → the rows, gathered
    source by source into their positions; a source's fields are stored as ``<source>_<field>``."""

    def __init__(self, job: Job):
        arrays = job.arrays()
        self.names = sorted({k.split("_", 1)[0] for k in arrays})
        self.fields = sorted({k.split("_", 1)[1] for k in arrays})
        self.sources = [{f: arrays[f"{d}_{f}"] for f in self.fields} for d in self.names]

    @property
    def counts(self) -> list[int]:
        return [len(s[self.fields[0]]) for s in self.sources]

    def __call__(self, pairs) -> dict[str, np.ndarray]:
        source, ids = (np.asarray(a) for a in pairs)
        first = self.sources[0]
        out = {f: np.empty((len(ids), *first[f].shape[1:]), first[f].dtype) for f in self.fields}
        for s, arrays in enumerate(self.sources):
            mine = np.flatnonzero(source == s)
            for f in self.fields:
                out[f][mine] = arrays[f][ids[mine]]
        return out


def mixed_sources(job: Job):
    """IO-3 as a ``MapDataset`` of batches: Grain's ``mix`` of the sources with the scenario's
    weights (its selection keeps each batch's share at the weights), ``.batch``, the gather."""
    import grain

    gather = MixedGather(job)
    parts = [grain.MapDataset.range(n).repeat().map_with_index(_SourceIds(s, n, job.seed, job.shuffle))
             for s, n in enumerate(gather.counts)]
    weights = [float(w) for w in job.variant.param("weights")]
    mixed = grain.MapDataset.mix(parts, weights)
    return mixed.batch(job.variant.batch_size, drop_remainder=True).map(gather)
