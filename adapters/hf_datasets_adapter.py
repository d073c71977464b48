"""Hugging Face Datasets: Arrow on disk (written once) → numpy format → shuffle → ``iter(batch_size)``.

The records are converted once per scenario variant to an Arrow dataset (``save_to_disk``,
fixed-shape ``Array3D``/fixed-length lists, plus each record's id) and memory-mapped with
``load_from_disk``. Every epoch is ``shuffle(generator=...)`` (an in-memory index mapping) and
``iter(batch_size, drop_last_batch=True)`` in the numpy format (``dtype=None`` keeps stored
dtypes instead of widening integers to int64). A map-style dataset has no lazy batched
transform that yields NumPy (``set_transform`` hands the function Python lists, and ``map``
materializes a new Arrow file once, which would freeze the random crops), so the transforms
run on each batch as it arrives, with per-record random parameters keyed by (seed, epoch,
record id). HF Datasets iterates in-process: the CPU budget bounds it but is not spread.
IO-1's ``memory`` backend loads the Arrow dataset into RAM (``keep_in_memory``); its Parquet
file is read by ``Dataset.from_parquet`` into the same Arrow layout.

IO-3 (mixing): each source is its own Arrow dataset, mixed by ``interleave_datasets`` with
the scenario's weights as ``probabilities`` (HF's documented mixing idiom), reseeded per epoch.

PR-1: a map-style dataset's iteration has no state; the saved state is the seeded shuffle's
position, and resuming ``skip``s the consumed rows of that epoch's shuffled dataset.

Delivery: the ``jax`` format would hand the NumPy transforms device arrays, so the transformed
NumPy batches go through the shared overlapped ``jax.device_put`` (``adapters._delivery``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters import _formats
from adapters._delivery import deliver
from adapters._element_ops import OPS, RecordTransform
from adapters._peer_state import SHARDED_CAPABILITIES, Position, load_state, positioned, save_state
from adapters._records import converted
from adapters.base import Job, LibraryAdapter
from scenarios import Scenario, Variant

ID = "__record_id__"


def _dataset(datasets, arrays: dict[str, np.ndarray]):
    """An in-memory ``Dataset`` of ``arrays``: scalar and 1-D fields go straight to Arrow
    columns (fixed-size lists; ``from_dict`` converts those row by row, minutes for IO-1);
    fields of rank 2-4 become fixed-shape ``Array2D``..``Array4D`` features via ``from_dict``."""
    import pyarrow as pa

    flat = {name: _formats.arrow_column(np.asarray(a)) for name, a in arrays.items() if a.ndim <= 2}
    shaped = {name: a for name, a in arrays.items() if a.ndim > 2}
    parts = [datasets.Dataset(datasets.table.InMemoryTable(pa.table(flat)))] if flat else []
    if shaped:
        features = {
            name: {3: datasets.Array2D, 4: datasets.Array3D, 5: datasets.Array4D}[a.ndim](shape=a.shape[1:], dtype=str(a.dtype))
            for name, a in shaped.items()
        }
        parts.append(datasets.Dataset.from_dict(shaped, features=datasets.Features(features)))
    dataset = datasets.concatenate_datasets(parts, axis=1) if len(parts) > 1 else parts[0]
    return dataset.select_columns(list(arrays))  # the stored field order


class HfDatasetsAdapter(LibraryAdapter):
    name = "hf_datasets"
    library, distribution = "datasets", "datasets"
    ops = OPS
    backends = frozenset({"npy", "memory", "parquet"})
    backend_reasons = {"array_record": "Hugging Face Datasets has no ArrayRecord reader"}
    capabilities = SHARDED_CAPABILITIES | {"checkpoint", "mixing"}

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        dims = [len(f.shape) for f in scenario.input_fields(variant)]
        if max(dims) > 4:
            return f"fields of rank {max(dims)} have no fixed-shape Arrow feature (Array2D..Array4D)"
        return super().supports(scenario, variant)

    def prepare(self, job: Job) -> None:
        if dict(job.variant.params).get("weights") is not None:
            self._sources(job)
        else:
            self._arrow(job)

    def _arrow(self, job: Job) -> Path:
        """Writes the Arrow dataset once per scenario variant (from the .npy or the Parquet file)."""
        import datasets

        datasets.disable_progress_bars()
        ids = np.arange(job.variant.num_records)
        if job.backend == "parquet":
            parquet = _formats.parquet_file(job)

            def write(folder: Path) -> None:
                table = datasets.Dataset.from_parquet(str(parquet), keep_in_memory=True, cache_dir=str(folder / "cache"))
                table.add_column(ID, ids).save_to_disk(str(folder / "arrow"))

            return converted(job.data, "hf_datasets-parquet", write) / "arrow"

        def write(folder: Path) -> None:
            arrays = job.arrays()
            _dataset(datasets, {ID: ids, **arrays}).save_to_disk(str(folder / "arrow"))

        return converted(job.data, "hf_datasets", write) / "arrow"

    def open(self, job: Job, start: Position = Position()) -> Iterator[dict[str, Any]]:
        return positioned(self._batches(job, start), job, start, lambda batches: deliver(batches, job))

    def save_checkpoint(self, job: Job, iterator, directory) -> None:
        """IO-3 (mixing): each source is its own Arrow dataset, mixed by ``interleave_datasets`` with
the scenario's weights as ``probabilities`` (HF's documented mixing idiom), reseeded per epoch.

PR-1: a map-style ``Dataset`` iterates without state, so the state is the seeded
        shuffle's position: epoch and batches consumed."""
        save_state(iterator, directory)

    def resume(self, job: Job, directory) -> Iterator[dict[str, Any]]:
        """PR-1: the saved epoch's shuffled dataset, ``skip``-ped past the consumed rows."""
        return self.open(job, load_state(directory))

    def _sources(self, job: Job) -> list[Path]:
        """IO-3: one Arrow dataset per stored source (``<source>_<field>`` columns), written once."""
        import datasets

        datasets.disable_progress_bars()
        names = sorted({field.split("_", 1)[0] for field in job.data})

        def write(folder: Path) -> None:
            arrays = job.arrays()
            for name in names:
                columns = {f.split("_", 1)[1]: np.asarray(a) for f, a in arrays.items() if f.startswith(f"{name}_")}
                _dataset(datasets, columns).save_to_disk(str(folder / name))

        folder = converted(job.data, "hf_datasets-sources", write)
        return [folder / name for name in names]

    def _mixed(self, job: Job, start: Position) -> Iterator[dict[str, Any]]:
        """IO-3 by ``interleave_datasets``: each element drawn from a source with its
        probability (seeded per epoch), each source reshuffled per epoch, until every source has
        been seen whole (``all_exhausted``)."""
        import datasets

        if start != Position():
            raise ValueError("a mixed stream starts only at its first batch")
        sources = [datasets.load_from_disk(str(f)) for f in self._sources(job)]
        weights = np.asarray(job.variant.param("weights"), np.float64)
        epoch = 0
        while True:
            seed = job.seed * 1_000_003 + epoch
            mixed = datasets.interleave_datasets(
                [d.shuffle(seed=seed + i, keep_in_memory=True) for i, d in enumerate(sources)],
                probabilities=list(weights / weights.sum()), seed=seed, stopping_strategy="all_exhausted",
            ).with_format("numpy", dtype=None)
            yield from mixed.iter(batch_size=job.variant.batch_size, drop_last_batch=True)
            epoch += 1

    def _batches(self, job: Job, start: Position) -> Iterator[dict[str, Any]]:
        import datasets

        if dict(job.variant.params).get("weights") is not None:
            yield from self._mixed(job, start)
            return

        folder = self._arrow(job)
        in_memory = job.backend == "memory"
        dataset = datasets.load_from_disk(str(folder), keep_in_memory=in_memory).with_format("numpy", dtype=None)
        transform = RecordTransform(job.scenario.transforms(job.variant), job.seed)
        epoch, skip = start.epoch, start.batch * job.variant.batch_size
        while True:
            order = (
                dataset.shuffle(generator=np.random.default_rng([job.seed, epoch]), keep_in_memory=True)
                if job.shuffle
                else dataset
            )
            if skip:
                order, skip = order.skip(skip), 0
            for batch in order.iter(batch_size=job.variant.batch_size, drop_last_batch=True):
                ids = batch.pop(ID)
                yield transform.batch(batch, ids, epoch)
            epoch += 1
