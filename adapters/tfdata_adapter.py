"""tf.data: shuffled record ids → batch → one vectorized map of TensorFlow ops → prefetch.

The tf.data performance guide's shape (https://www.tensorflow.org/guide/data_performance):
vectorized ``map`` after ``batch``, ``num_parallel_calls=AUTOTUNE`` on a private thread pool of
``job.cpu_budget`` threads (``autotune.cpu_budget`` set to it too), ``prefetch`` last; the
scenarios' graph shapes in tf.data's own operations (``sample_from_datasets``, ``cache``,
``rebatch``, ragged tensors) and their transforms in ``tf.image``/``tf.signal`` ops on whole
batches (``adapters.tfdata_ops``). Two configurations differ in how an epoch's ids are drawn:

- ``tfdata``: ``Dataset.range(n).shuffle(n, seed, reshuffle_each_iteration=True)``, tf.data's
  documented shuffle, streamed id by id into ``batch``;
- ``tfdata-batched``: one ``stateless_shuffle`` per epoch cut into whole id batches (no element
  per id).

Delivery: TensorFlow's GPU is hidden from the pipeline, so each batch leaves it as host tensors
and becomes ``jax.Array``s on ``job.sharding()`` through the shared overlapped ``device_put``
thread (``adapters._delivery``). PR-1 checkpoints the ``tf.data`` iterator itself with
``tf.train.Checkpoint``: its batches go to the device by DLPack in the consumer's ``next()``, so
the checkpointed iterator stands exactly where the consumer does (tf.data saves its prefetch
buffer with it).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from adapters._delivery import deliver, put
from adapters.base import Job, LibraryAdapter
from adapters.tfdata_ops import SUPPORTED
from adapters.tfdata_pipeline import dataset, reusable, tensorflow, tensors

_HANDLED = frozenset({
    "stochastic_per_element", "exact_reference", "outcomes", "source_backends", "mixing", "variable_length",
    "batch_mixing", "rebatching", "caching", "parallel_views", "checkpoint", "device_sharding",
})
_CHECKPOINT = "iterator"


class CheckpointableBatches:
    """A ``tf.data`` iterator's batches put on the device one by one in ``next()`` (DLPack into
    JAX, then ``device_put`` onto the sharding): nothing is read ahead outside tf.data, so
    ``tf.train.Checkpoint`` of ``iterator`` is the consumer's position."""

    def __init__(self, iterator, job: Job):
        self.iterator = iterator
        self._sharding = job.sharding() if job.on_device else None

    def __iter__(self) -> "CheckpointableBatches":
        return self

    def __next__(self) -> dict[str, Any]:
        batch = next(self.iterator)
        if self._sharding is None:
            return {k: v.numpy() for k, v in batch.items()}
        import jax

        return put({k: jax.dlpack.from_dlpack(v) if v.dtype.name != "bool" else v.numpy()
                    for k, v in batch.items()}, self._sharding)


class TfDataAdapter(LibraryAdapter):
    name = "tfdata"
    label = "tf.data: range.shuffle ids → batch → vectorized map (tf.image/tf.signal ops) → prefetch"
    order = "shuffle"
    library, distribution = "tensorflow", "tensorflow-cpu"
    ops, ops_kind = SUPPORTED, "tf.data implementation"
    capabilities = _HANDLED
    capability_reasons = {
        "differentiable_pipeline": "tf.data runs its functions in TensorFlow's runtime, outside JAX: no gradient "
        "of a JAX loss reaches a pipeline stage's parameters (PC-5 is datarax-only)",
        "multi_process": "the tf.data adapter runs in one process; a multi-process JAX job needs a per-process "
        "shard assembled with jax.make_array_from_process_local_data",
    }
    backend_reasons = {
        "array_record": "tf.data has no ArrayRecord reader here (array_record ships only a Python "
        "random-access source; no TensorFlow op reads it)",
        "parquet": "tf.data has no Parquet reader (that is tensorflow-io, not installed here)",
    }

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.distribution)
        except PackageNotFoundError:  # the full build instead of the CPU one
            return version("tensorflow")

    def load(self) -> None:
        tensorflow()

    def _dataset(self, job: Job):
        data = self.__dict__.setdefault("_tensors", {})
        if job.key not in data:
            data[job.key] = tensors(job)
        return dataset(job, self.order, data[job.key], self._scratch())

    def _scratch(self) -> Path:
        """A fresh folder for on-disk caches, removed by close()."""
        if getattr(self, "_scratch_dir", None) is None:
            self._scratch_dir = Path(tempfile.mkdtemp(prefix="tfdata-cache-"))
        return self._scratch_dir

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        ds = self.cached(job, lambda: self._dataset(job)) if reusable(job, self.order) else self._dataset(job)
        if "checkpoint" in job.scenario.capabilities:
            return CheckpointableBatches(iter(ds), job)
        return deliver(iter(ds), job)

    def save_checkpoint(self, job: Job, iterator: Iterator[dict], directory: Path) -> None:
        """PR-1: ``tf.train.Checkpoint`` of the tf.data iterator behind ``iterator``."""
        if not isinstance(iterator, CheckpointableBatches):
            raise TypeError(f"save_checkpoint takes an iterator opened for {job.scenario_id}'s checkpoint, "
                            f"got {type(iterator).__name__}")
        tf = tensorflow()
        tf.train.Checkpoint(**{_CHECKPOINT: iterator.iterator}).write(str(Path(directory) / _CHECKPOINT))

    def resume(self, job: Job, directory: Path) -> Iterator[dict]:
        """PR-1: a freshly built pipeline (what a restarted trainer has), its iterator restored."""
        tf = tensorflow()
        iterator = iter(self._dataset(job))
        tf.train.Checkpoint(**{_CHECKPOINT: iterator}).read(str(Path(directory) / _CHECKPOINT)).assert_consumed()
        return CheckpointableBatches(iterator, job)

    def close(self) -> None:
        super().close()
        self.__dict__.pop("_tensors", None)
        if getattr(self, "_scratch_dir", None) is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None


class TfDataBatchedAdapter(TfDataAdapter):
    name = "tfdata-batched"
    label = ("tf.data: one stateless_shuffle per epoch cut into id batches → vectorized map "
             "(tf.image/tf.signal ops) → prefetch")
    order = "permutation"
