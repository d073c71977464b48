"""Pipeline state as plain files: ``state.json`` (position, sampler) + one ``.npy`` per
operator variable. For users without Orbax, and the format the Orbax handler writes."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np

STATE_FILE = "state.json"


def save_state(directory: str | os.PathLike, state: dict[str, Any]) -> pathlib.Path:
    """Writes ``state`` (from ``Pipeline.get_state()``) into ``directory``.

    The arrays are written first and ``state.json`` last, by an atomic rename, so a directory
    whose ``state.json`` exists is complete.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, (name, value) in enumerate(sorted(state["operators"].items())):
        files[name] = f"operator_{i}.npy"
        np.save(directory / files[name], np.asarray(value), allow_pickle=False)
    meta = {k: v for k, v in state.items() if k != "operators"}
    meta["operators"] = files
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp, directory / STATE_FILE)
    return directory


def load_state(directory: str | os.PathLike) -> dict[str, Any]:
    """Reads a state written by :func:`save_state`; pass it to ``Pipeline.set_state``."""
    directory = pathlib.Path(directory)
    path = directory / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no pipeline state at {path} (expected a directory written by save_state)")
    meta = json.loads(path.read_text())
    meta["operators"] = {
        name: np.load(directory / file, allow_pickle=False) for name, file in meta["operators"].items()
    }
    return meta
