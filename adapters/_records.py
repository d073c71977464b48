"""What the peer adapters share: records read by id, the epoch order, cached format conversions.

Not an adapter: peers import it so that every loader reads the same memory-mapped ``.npy``
files, shuffles with the same seeded permutation where it takes an order from outside, and
converts data to its own format once per scenario variant.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Collection, Iterator, Mapping

import numpy as np

from scenarios import Scenario, Variant

_DONE = "COMPLETE"
# Scenario capabilities every peer adapter handles: per-record randomness, exact row checks
# (fields pass through untouched), outcome probes (fresh iterators), source backends (each peer
# declares which it reads).
HANDLED_CAPABILITIES = frozenset({"stochastic_per_element", "exact_reference", "outcomes", "source_backends"})


class NpyRecords:
    """Random access to a job's records; pickles as file paths, so workers map the files again.

    ``records[i]`` is one record (a dict of arrays); ``records.gather(ids)`` one batch, read with
    one vectorized gather per field. ``in_memory`` loads the files whole into RAM instead of
    memory-mapping them (IO-1's ``memory`` backend).
    """

    def __init__(self, paths: Mapping[str, str], in_memory: bool = False):
        self._paths = dict(paths)
        self._in_memory = in_memory
        self._arrays: dict[str, np.ndarray] | None = None

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            mode = None if self._in_memory else "r"
            self._arrays = {k: np.load(p, mmap_mode=mode) for k, p in self._paths.items()}
        return self._arrays

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {k: np.array(a[index]) for k, a in self.arrays.items()}

    def gather(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        return {k: a[ids] for k, a in self.arrays.items()}

    def __getstate__(self):
        return {**self.__dict__, "_arrays": None}


def as_is(batch):
    """A ``collate_fn`` for datasets that build whole batches themselves."""
    return batch


def unsupported(
    scenario: Scenario,
    variant: Variant,
    known: Collection[str],
    what: str,
    backends: Collection[str] = ("npy",),
    backend_reasons: Mapping[str, str] | None = None,
    capabilities: Collection[str] = HANDLED_CAPABILITIES,
    capability_reasons: Mapping[str, str] | None = None,
) -> str | None:
    """Why a peer cannot do ``variant``'s work (a capability, a transform or a source it lacks).

    ``capabilities`` are the scenario capabilities the peer's adapter handles (mixing,
    variable_length, checkpoint, ...), ``capability_reasons`` why the library cannot do some of
    the others; ``backends`` are the IO-1 source backends the peer reads, ``backend_reasons``
    why it does not read some of the others.
    """
    lacking = sorted(scenario.capabilities - frozenset(capabilities))
    for capability in lacking:
        if capability in (capability_reasons or {}):
            return capability_reasons[capability]
    if lacking:
        return f"needs {lacking}, which this loader's adapter does not implement"
    backend = dict(variant.params).get("backend", "npy")
    if backend not in backends:
        why = (backend_reasons or {}).get(backend)
        return why or f"no {backend!r} source wired for this loader (reads: {', '.join(sorted(backends))})"
    missing = list(dict.fromkeys(t.name for t in scenario.transforms(variant) if t.name not in known))
    return f"no {what} for {missing}" if missing else None


def own_format_only(fmt: str) -> dict[str, str]:
    """``backend_reasons`` of a loader that reads only its own format, converted from the .npy files."""
    return {
        backend: f"reads only its own {fmt}, converted once from the .npy files; a {backend} source is not its input"
        for backend in ("memory", "array_record", "parquet")
    }


def epoch_order(num_records: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """Record ids of one epoch: a permutation seeded by ``(seed, epoch)``, or 0..n-1."""
    if not shuffle:
        return np.arange(num_records)
    return np.random.default_rng([seed, epoch]).permutation(num_records)


class EpochBatches:
    """A batch sampler yielding ``(epoch, ids)`` for each batch of an epoch (remainder dropped).

    ``set_epoch`` picks the epoch's permutation; the epoch travels with the ids, so a worker
    process knows it without shared state. PyTorch's ``DataLoader`` takes it as
    ``batch_sampler``.
    """

    def __init__(self, num_records: int, batch_size: int, seed: int, shuffle: bool = True):
        self.num_records, self.batch_size, self.seed, self.shuffle = num_records, batch_size, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_records // self.batch_size

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        order = epoch_order(self.num_records, self.seed, self.epoch, self.shuffle)
        for i in range(len(self)):
            yield self.epoch, order[i * self.batch_size : (i + 1) * self.batch_size]


def id_batches(job) -> Iterator[tuple[int, np.ndarray]]:
    """Endless ``(epoch, ids)`` batches of ``job``, epoch after epoch, in its seeded order."""
    variant = job.variant
    sampler = EpochBatches(variant.num_records, variant.batch_size, job.seed, job.shuffle)
    while True:
        yield from sampler
        sampler.set_epoch(sampler.epoch + 1)


def converted(data: Mapping[str, str], peer: str, write: Callable[[Path], None]) -> Path:
    """A folder with ``data`` converted to ``peer``'s format, written once and reused.

    The folder sits next to the job's ``.npy`` files (which are unique per scenario, variant,
    seed and spec). ``write(tmp)`` fills a temporary folder that is renamed into place with a
    completion marker, so a crash never leaves a half-written conversion that a later run
    would trust.
    """
    folder = Path(next(iter(data.values()))).parent / peer
    if (folder / _DONE).is_file():
        return folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{peer}.", dir=folder.parent))
    try:
        write(tmp)
        (tmp / _DONE).touch()
        if folder.exists() and not (folder / _DONE).is_file():  # a crashed earlier attempt
            shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
