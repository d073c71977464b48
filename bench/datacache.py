"""Scenario data written once per (scenario, variant, seed, spec) and handed to cells by path."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from scenarios import Scenario, Variant


def default_cache_root() -> Path:
    return Path(os.environ.get("DATARAX_BENCH_CACHE", "results/cache"))


def ensure_data(scenario: Scenario, variant: Variant, seed: int, root: Path) -> tuple[dict[str, str], float]:
    """Returns ``({field: path.npy}, seconds spent generating)``; 0 s when cached.

    The folder is written under a temporary name and renamed, so a crash never leaves a
    half-written dataset that a later run would trust.
    """
    folder = root / f"{scenario.id}-{variant.name}-seed{seed}-{scenario.spec_hash(variant)}"
    fields = [f.name for f in scenario.input_fields(variant)]
    paths = {name: str((folder / f"{name}.npy").resolve()) for name in fields}
    if (folder / "meta.json").is_file():
        return paths, 0.0
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    arrays = scenario.generate(variant, seed)
    if sorted(arrays) != sorted(fields):
        raise ValueError(f"{scenario.id} generated fields {sorted(arrays)}, declared {sorted(fields)}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=root))
    try:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        meta = {"spec": scenario.spec(variant), "seed": seed}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        try:
            tmp.rename(folder)
        except OSError:  # another run finished the same folder first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return paths, time.perf_counter() - start
