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
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from adapters._element_ops import OPS, RecordTransform
from adapters._records import converted, unsupported
from adapters.base import Adapter, Job
from scenarios import Scenario, Variant

ID = "__record_id__"


def _features(datasets, arrays: dict[str, np.ndarray]):
    spec = {ID: datasets.Value("int64")}
    for name, array in arrays.items():
        shape, dtype = array.shape[1:], str(array.dtype)
        if len(shape) == 0:
            spec[name] = datasets.Value(dtype)
        elif len(shape) == 1:
            spec[name] = datasets.List(datasets.Value(dtype), length=shape[0])
        else:
            array_type = {2: datasets.Array2D, 3: datasets.Array3D, 4: datasets.Array4D}[len(shape)]
            spec[name] = array_type(shape=shape, dtype=dtype)
    return datasets.Features(spec)


class HfDatasetsAdapter(Adapter):
    name = "hf_datasets"

    def version(self) -> str:
        return importlib.metadata.version("datasets")

    def available(self) -> str | None:
        try:
            import datasets  # noqa: F401
        except ImportError as e:
            return f"datasets is not importable: {e}"
        return None

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        dims = [len(f.shape) for f in scenario.input_fields(variant)]
        if max(dims) > 4:
            return f"fields of rank {max(dims)} have no fixed-shape Arrow feature (Array2D..Array4D)"
        return unsupported(scenario, variant, OPS, "NumPy element op")

    def prepare(self, job: Job) -> Path:
        """Writes the Arrow dataset once per scenario variant; returns its folder."""
        import datasets

        datasets.disable_progress_bars()

        def write(folder: Path) -> None:
            arrays = job.arrays()
            columns = {ID: np.arange(job.variant.num_records), **arrays}
            table = datasets.Dataset.from_dict(columns, features=_features(datasets, arrays))
            table.save_to_disk(str(folder / "arrow"))

        return converted(job.data, "hf_datasets", write) / "arrow"

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        import datasets

        folder = self.prepare(job)
        dataset = datasets.load_from_disk(str(folder)).with_format("numpy", dtype=None)
        transform = RecordTransform(job.scenario.transforms(job.variant), job.seed)
        epoch = 0
        while True:
            order = (
                dataset.shuffle(generator=np.random.default_rng([job.seed, epoch]), keep_in_memory=True)
                if job.shuffle
                else dataset
            )
            for batch in order.iter(batch_size=job.variant.batch_size, drop_last_batch=True):
                ids = batch.pop(ID)
                yield transform.batch(batch, ids, epoch)
            epoch += 1
