"""``Cache(stages, max_bytes)``: memoizes a deterministic sub-graph's output per record id.

A host stage: the sub-graph runs right after the source's gather, with its own compiled step,
and its per-record outputs are kept in memory (NumPy) until ``max_bytes`` is reached. With
``directory`` (and ``num_records``), every output row is also kept on disk
(:mod:`datarax.dag.cache_disk`), so it outlives the process and the memory budget; memory stays
a bounded tier in front of it. A batch whose records are all cached skips the sub-graph. Its
output depends on the record only, so the sub-graph must be deterministic (no random keys) and
frozen (no ``nnx.Param``s, which training would make stale), and what comes before it must
give a record the same rows whatever batch or epoch it is read in.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
from flax import nnx

from datarax.core.config import check_int
from datarax.core.module import HostBox, RecordKey
from datarax.core.stage import Placement, Stage
from datarax.dag.cache_disk import DiskStore, describe
from datarax.dag.nodes import as_step_stage
from datarax.dag.step import compile_step, split_stages


class Cache(Stage):
    """A host stage memoizing ``stages`` per record; ``stats()`` counts hits, misses and bytes."""

    placement = Placement.HOST

    def __init__(self, stages: Sequence[Any], *, max_bytes: int = 1 << 30,
                 directory: str | os.PathLike | None = None, num_records: int | None = None):
        check_int("max_bytes", max_bytes, minimum=0)
        stages = stages if isinstance(stages, (list, tuple)) else [stages]
        self.nodes = nnx.List([as_step_stage(s, "Cache's sub-graph") for s in stages])
        for kind, what in ((RecordKey, "draws random numbers"), (nnx.Param, "has trainable parameters")):
            found = nnx.to_flat_state(nnx.state(self.nodes, kind))
            if len(found):
                path = "/".join(map(str, found[0][0]))
                raise ValueError(f"Cache needs a deterministic, frozen sub-graph; {path} {what}")
        if (directory is None) != (num_records is None):
            raise ValueError("an on-disk Cache needs both directory and num_records (the source's length), "
                             f"got directory={directory!r}, num_records={num_records!r}")
        self.max_bytes = max_bytes
        self._memory = HostBox(rows={}, bytes=0, hits=0, misses=0, step=None)
        if directory is not None:
            check_int("num_records", num_records, minimum=1)
            self._disk = HostBox(store=DiskStore(directory, num_records, describe(self.nodes)))
        else:
            self._disk = HostBox(store=None)

    def check_upstream(self, source, upstream) -> None:
        varying = [s for s in (source, *upstream) if s.batch_dependent]
        if source.epoch_dependent:
            varying.insert(0, source)
        if varying:
            raise ValueError(f"Cache memoizes per record id, so its input must depend on the record alone; "
                             f"{type(varying[0]).__name__} gives a record other rows in another batch or epoch")

    def stats(self) -> dict[str, int]:
        m, disk = self._memory, self._disk.store
        stats = {"hits": m.hits, "misses": m.misses, "records": len(m.rows), "bytes": m.bytes}
        if disk is not None:
            stats["disk_records"] = int(disk.has(np.arange(disk.num_records)).sum())
        return stats

    def _run(self, batch, ids, epoch) -> dict[str, np.ndarray]:
        graphdef, treedef, leaves = split_stages(self.nodes)
        if self._memory.step is None:
            self._memory.step = compile_step(graphdef, treedef, tuple(n.name for n in self.nodes))
        out = self._memory.step(leaves, batch, ids.astype(np.int32), np.int32(epoch))
        return {k: np.asarray(v) for k, v in out.items()}

    def apply_batch(self, batch: dict[str, np.ndarray], record_ids: np.ndarray, epoch: int) -> dict[str, np.ndarray]:
        """The sub-graph's output for records ``record_ids`` (``batch`` is their gathered data)."""
        memory, disk = self._memory, self._disk.store
        keys = np.asarray(record_ids, np.int64)
        in_memory = np.fromiter((int(k) in memory.rows for k in keys), bool, len(keys))
        on_disk = disk.has(keys) if disk is not None else np.zeros(len(keys), bool)
        if in_memory.all():
            memory.hits += len(keys)
            rows = [memory.rows[int(k)] for k in keys]
            return {f: np.stack([r[f] for r in rows]) for f in rows[0]}
        if on_disk.all():
            memory.hits += len(keys)
            out = disk.read(keys)
        else:
            out = self._run(batch, record_ids, epoch)
            cached = in_memory | on_disk
            memory.misses += int((~cached).sum())
            memory.hits += int(cached.sum())
            if disk is not None:
                disk.write(keys[~on_disk], {f: v[~on_disk] for f, v in out.items()})
        self._remember(keys, out)
        return out

    def _remember(self, keys: np.ndarray, out: dict[str, np.ndarray]) -> None:
        """Keeps rows in memory until the byte budget is reached."""
        memory = self._memory
        for row, key in enumerate(int(k) for k in keys):
            if key in memory.rows:
                continue
            record = {f: v[row].copy() for f, v in out.items()}
            size = sum(v.nbytes for v in record.values())
            if memory.bytes + size > self.max_bytes:
                break
            memory.rows[key] = record
            memory.bytes += size
