"""``Cache(stages, max_bytes)``: memoizes a deterministic sub-graph's output per record id.

The sub-graph runs on the host's side of the pipeline, right after the source's gather, with
its own compiled step; its per-record outputs are kept in memory (NumPy) until ``max_bytes``
is reached. With ``directory`` (and ``num_records``), every output row is also kept on disk
(:mod:`datarax.dag.cache_disk`), so it outlives the process and the memory budget; memory stays
a bounded tier in front of it. A batch whose records are all cached skips the sub-graph. Its
output depends on the record only, so the sub-graph must be deterministic (no random keys) and
frozen (no ``nnx.Param``s, which training would make stale).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import jax
import numpy as np
from flax import nnx

from datarax.core.config import check_int
from datarax.core.module import HostBox, HostStage, RecordKey
from datarax.dag.cache_disk import DiskStore, describe
from datarax.dag.nodes import as_node


class Cache(HostStage):
    """Must be the pipeline's first stage; ``stats()`` counts hits, misses and bytes held."""

    def __init__(self, stages: Sequence[Any], *, max_bytes: int = 1 << 30,
                 directory: str | os.PathLike | None = None, num_records: int | None = None):
        super().__init__()
        check_int("max_bytes", max_bytes, minimum=0)
        self.nodes = nnx.List([as_node(s) for s in (stages if isinstance(stages, (list, tuple)) else [stages])])
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

    def stats(self) -> dict[str, int]:
        m, disk = self._memory, self._disk.store
        stats = {"hits": m.hits, "misses": m.misses, "records": len(m.rows), "bytes": m.bytes}
        if disk is not None:
            stats["disk_records"] = int(disk.has(np.arange(disk.num_records)).sum())
        return stats

    def _run(self, batch, ids, epoch) -> dict[str, np.ndarray]:
        from datarax.dag.executor import compile_step  # the executor imports this module

        graphdef, state = nnx.split(self.nodes)
        leaves, treedef = jax.tree.flatten(state)
        if self._memory.step is None:
            self._memory.step = compile_step(graphdef, treedef, tuple(n.name for n in self.nodes))
        out = self._memory.step(leaves, batch, ids.astype(np.int32), np.int32(epoch))
        return {k: np.asarray(v) for k, v in out.items()}

    def apply_records(self, batch: dict[str, np.ndarray], ids: np.ndarray, epoch: int) -> dict[str, np.ndarray]:
        """The sub-graph's output for records ``ids`` (``batch`` is their gathered data)."""
        memory, disk = self._memory, self._disk.store
        keys = np.asarray(ids, np.int64)
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
            out = self._run(batch, ids, epoch)
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

    def apply_host(self, batch):
        raise TypeError("Cache runs with the batch's record ids; the pipeline calls apply_records")
