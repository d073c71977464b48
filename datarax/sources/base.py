"""The source contract: a length and a vectorized gather of record ids.

``gather(ids)`` is called once per batch with the batch's record ids (in the pipeline's
background thread) and returns ``{field: array[len(ids), ...]}`` on the host; a source never
loops over records in Python.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import numpy as np

from datarax.core.module import HostBox, StructuralModule


class DataSourceModule(StructuralModule):
    """A random-access source of records with named fields of fixed per-record shape.

    ``batch_dependent`` marks a source whose gathered rows depend on the other ids of the
    call (e.g. padding to the batch's longest record): pipelines then gather it one batch at
    a time instead of a chunk of batches per call. ``epoch_dependent`` marks one whose id
    stands for another record in another epoch (``MixedSource``), so a record id alone does
    not identify its rows (``Cache`` refuses it).
    """

    batch_dependent: ClassVar[bool] = False
    epoch_dependent: ClassVar[bool] = False

    def __len__(self) -> int:
        raise NotImplementedError

    def gather(self, record_ids: np.ndarray, *, epoch: int = 0) -> dict[str, np.ndarray]:
        """The records ``record_ids`` (int64, any order) as one array per field.

        ``epoch`` lets a source vary what an id stands for per epoch (``MixedSource`` walks
        its sub-sources onward); most sources ignore it.
        """
        raise NotImplementedError

    def first_record(self) -> dict[str, np.ndarray]:
        """Record 0 as a batch of one (``{field: array[1, ...]}``): pipelines read it once to
        size their chunks."""
        return self.gather(np.zeros(1, np.int64))


def check_columns(columns: Mapping[str, Any], owner: str) -> dict[str, np.ndarray]:
    """Columns as arrays that share a leading length; names the offending fields otherwise."""
    if not columns:
        raise ValueError(f"{owner} needs at least one field, got an empty mapping")
    arrays = {}
    for name, value in columns.items():
        if not isinstance(name, str):
            raise TypeError(f"{owner}: field names must be strings, got {name!r}")
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"{owner}: field {name!r} is not a numeric array (dtype {array.dtype}: strings, "
                "ragged or object values); "
                "store fixed-shape numbers, e.g. tokens padded to a length plus a length field"
            )
        # A plain ndarray view of a memmap: same pages, without np.memmap's Python-level
        # __getitem__/__array_finalize__ on every gather.
        arrays[name] = array.view(np.ndarray) if type(array) is not np.ndarray else array
    lengths = {name: (a.shape[0] if a.ndim else None) for name, a in arrays.items()}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise ValueError(f"{owner}: all fields need the same leading length; got {lengths}")
    return arrays


# Arrays this large are handed to XLA from 64-byte aligned buffers. XLA's CPU client takes an
# aligned NumPy buffer without a copy; an unaligned one it copies on a slower path (measured
# per 128 KiB-768 KiB batch: 2-6x the aligned hand-off). A plain ``np.take`` buffer's
# alignment is whatever malloc gives, which is fixed for a process's steady state but differs
# between processes, so leaving it to chance made a cell's rate bimodal between runs.
# Below this size both paths cost the same and the plain gather is cheaper.
ALIGNED_BYTES = 64 << 10
ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype: Any, alignment: int = ALIGNMENT) -> np.ndarray:
    """An uninitialised array whose data starts on an ``alignment``-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize  # math.prod: no NumPy reduce per gather
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def aligned(array: Any) -> Any:
    """``array`` itself when XLA can take it without a copy (small, already aligned, or not a
    NumPy array), else an aligned contiguous copy of it."""
    if (not isinstance(array, np.ndarray) or array.nbytes < ALIGNED_BYTES
            or (array.ctypes.data % ALIGNMENT == 0 and array.flags.c_contiguous)):
        return array
    out = aligned_empty(array.shape, array.dtype)
    np.copyto(out, array)
    return out


class ColumnSource(DataSourceModule):
    """Records are rows of equally long host arrays (in memory or memory-mapped)."""

    def __init__(self, config, columns: Mapping[str, Any]):
        super().__init__(config)
        arrays = check_columns(columns, type(self).__name__)
        self._columns = HostBox(arrays=arrays)  # the dataset is never part of a checkpoint
        self._length = len(next(iter(arrays.values())))
        self._row_bytes = {name: a.itemsize * int(np.prod(a.shape[1:])) for name, a in arrays.items()}

    def __len__(self) -> int:
        return self._length

    def first_record(self) -> dict[str, np.ndarray]:
        return {name: a[:1] for name, a in self._columns.arrays.items()}

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return self._columns.arrays

    def gather(self, record_ids: np.ndarray, *, epoch: int = 0) -> dict[str, np.ndarray]:
        ids = np.asarray(record_ids)
        columns = self._columns.arrays
        large = [name for name, row in self._row_bytes.items() if len(ids) * row >= ALIGNED_BYTES]
        if large and ids.size and (ids.min() < 0 or ids.max() >= self._length):
            raise IndexError(f"record ids must lie in [0, {self._length}), got {ids.min()} … {ids.max()}")
        # Large fields go straight into aligned buffers (see ALIGNED_BYTES); mode="clip" only
        # skips NumPy's buffered out= path: the ids are in range (checked above).
        return {name: array.take(ids, axis=0, out=aligned_empty((len(ids), *array.shape[1:]), array.dtype), mode="clip")
                if name in large else array.take(ids, axis=0)
                for name, array in columns.items()}
