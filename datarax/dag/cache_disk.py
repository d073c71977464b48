"""The on-disk store behind ``Cache(directory=…)``: one memory-mapped ``.npy`` per output field
sized ``num_records``, and a ``filled`` bitmap.

A batch's rows are written and flushed before their ``filled`` bits are set and flushed, so a
crash never leaves a record marked filled with partial bytes (it is recomputed instead). The
folder's ``cache.json`` (written last, atomically) records what the store was built for: the
sub-graph's description, ``num_records`` and the fields; opening it for anything else fails,
naming what differs. One writer at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from flax import nnx

FILLED = "filled.npy"
META = "cache.json"


def describe(nodes: Any) -> list[str]:
    """A stable description of a sub-graph: each module's type and config, the functions it
    holds (their code and captured values) and every variable's value; no memory addresses."""
    out = []
    for path, value in nnx.iter_graph(nodes):
        where = "/".join(map(str, path)) or "."
        if isinstance(value, nnx.Module):
            out.append(f"{where}: {type(value).__qualname__} {getattr(value, 'config', None)!r}")
            for name, attr in sorted(vars(value).items()):
                if callable(attr) and hasattr(attr, "__code__"):
                    out.append(f"{where}/{name}: {_function(attr)}")
        elif isinstance(value, nnx.Variable):
            array = np.asarray(value.get_value())
            digest = hashlib.sha256(array.tobytes()).hexdigest()[:16]
            out.append(f"{where}: {type(value).__name__} {array.dtype}{list(array.shape)} {digest}")
    return out


def _function(fn) -> str:
    code = fn.__code__
    captured = [c.cell_contents for c in (fn.__closure__ or ())]
    parts = [code.co_code.hex(), repr(code.co_consts), repr(code.co_names)]
    parts += [repr(c) if isinstance(c, (int, float, str, bool, tuple, type(None))) else type(c).__qualname__
              for c in captured]
    nested = [_function(c) for c in captured if callable(c) and hasattr(c, "__code__")]
    return f"{fn.__qualname__} {hashlib.sha256('|'.join(parts + nested).encode()).hexdigest()[:16]}"


class DiskStore:
    """Rows of a cached sub-graph's output by record id, in ``directory``."""

    def __init__(self, directory: str | os.PathLike, num_records: int, graph: list[str]):
        self.directory = Path(directory)
        self.num_records = num_records
        self.graph = graph
        self.fields: dict[str, np.ndarray] | None = None
        self.filled: np.ndarray | None = None
        meta = self.directory / META
        if meta.is_file():
            saved = json.loads(meta.read_text())
            self._check({"graph": saved["graph"], "num_records": saved["num_records"]})
            self.fields = {name: np.load(self.directory / f"{name}.npy", mmap_mode="r+") for name in saved["fields"]}
            self.filled = np.load(self.directory / FILLED, mmap_mode="r+")

    def _check(self, saved: dict[str, Any]) -> None:
        diffs = []
        if saved["num_records"] != self.num_records:
            diffs.append(f"num_records {saved['num_records']} != {self.num_records}")
        if saved["graph"] != self.graph:
            old, new = saved["graph"], self.graph
            at = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
            diffs.append(f"sub-graph differs at {old[at] if at < len(old) else '(end)'!r} "
                         f"!= {new[at] if at < len(new) else '(end)'!r}")
        if diffs:
            raise ValueError(f"the cache in {self.directory} was built for another sub-graph or source: "
                             f"{'; '.join(diffs)}; use another directory or delete this one")

    def has(self, keys: np.ndarray) -> np.ndarray:
        if self.filled is None:
            return np.zeros(len(keys), bool)
        return self.filled[keys] == 1

    def read(self, keys: np.ndarray) -> dict[str, np.ndarray]:
        return {name: np.asarray(array[keys]) for name, array in self.fields.items()}

    def write(self, keys: np.ndarray, rows: dict[str, np.ndarray]) -> None:
        """Stores ``rows`` (one per key); data reaches the files before the ``filled`` bits."""
        if self.fields is None:
            self._create(rows)
        got = {k: (v.shape[1:], v.dtype.str) for k, v in rows.items()}
        want = {k: (v.shape[1:], v.dtype.str) for k, v in self.fields.items()}
        if got != want:
            raise ValueError(f"the cache in {self.directory} holds fields {want}, the sub-graph gives {got}")
        for name, array in self.fields.items():
            array[keys] = rows[name]
            array.flush()
        self.filled[keys] = 1
        self.filled.flush()

    def _create(self, rows: dict[str, np.ndarray]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        open_memmap = np.lib.format.open_memmap
        self.fields = {
            name: open_memmap(self.directory / f"{name}.npy", mode="w+", dtype=v.dtype, shape=(self.num_records, *v.shape[1:]))
            for name, v in rows.items()
        }
        self.filled = open_memmap(self.directory / FILLED, mode="w+", dtype=np.uint8, shape=(self.num_records,))
        meta = {"graph": self.graph, "num_records": self.num_records, "fields": sorted(rows)}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".cache.", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp, self.directory / META)
