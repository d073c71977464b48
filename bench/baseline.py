"""Committed baselines: ``results/baselines/<profile>/<machine-class>.jsonl`` plus ``.meta.json``.

A baseline is written only by an explicit ``datarax-bench baseline update --from RUN``, never
as a side effect of a run or a gate, and records the run and commit it came from.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bench.compare import ResultSet, ResultsError
from bench.store import write_json_atomic, write_text_atomic

BASELINES_ROOT = Path(__file__).resolve().parent.parent / "results" / "baselines"


def machine_class(machine: dict[str, Any]) -> str:
    """A readable, stable name for a machine: arch, cores, RAM and the fingerprint."""
    ram_gib = round(machine["ram_bytes"] / 2**30)
    return f"{machine['arch']}-{machine['cores']}cpu-{ram_gib}gib-{machine['fingerprint']}"


def baseline_path(run: ResultSet, root: Path = BASELINES_ROOT) -> Path:
    """Where ``run``'s baseline belongs; needs the run's ``run.json`` (profile and machine)."""
    if "machine" not in run.meta or run.profile_name is None:
        raise ResultsError(f"{run.path}: not a run folder with run.json (machine) and one profile")
    return root / run.profile_name / f"{machine_class(run.meta['machine'])}.jsonl"


def update_baseline(run: ResultSet, root: Path = BASELINES_ROOT, *, allow_dirty: bool = False) -> Path:
    """Writes ``run``'s records as the baseline of its profile and machine class."""
    ok = [r for r in run.records.values() if r["status"] == "ok"]
    if not ok:
        raise ResultsError(f"{run.path}: no cell finished ok; a baseline needs measured cells")
    commit = run.commit
    if (commit == "unknown" or commit.endswith("-dirty")) and not allow_dirty:
        raise ResultsError(
            f"{run.path}: commit {commit!r} does not identify the code measured; commit first "
            "and re-run, or pass --allow-dirty to record it as it is"
        )
    path = baseline_path(run, root)
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in run.records.values())
    write_text_atomic(path, lines)
    write_json_atomic(
        path.with_suffix(".meta.json"),
        {
            "profile": run.profile_name,
            "machine_class": path.stem,
            "machine": run.meta["machine"],
            "source_run": run.label,
            "git_commit": commit,
            "profile_settings": run.meta.get("profile"),
            "cells": [r["cell_id"] for r in run.records.values()],
            "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return path


def resolve_baseline(path: Path, run: ResultSet, mode: str) -> tuple[Path, str | None]:
    """A baseline file for ``run``: ``path`` itself, or the right file in a folder.

    In a folder (``results/baselines`` or ``results/baselines/<profile>``) the run's own
    machine class is preferred; in relative mode (ratios to a reference, fair across machines)
    the most recently updated baseline of the profile stands in. Returns the file and a note
    saying how it was chosen.
    """
    if not path.is_dir():
        if not path.is_file():
            raise ResultsError(f"baseline {path} does not exist; record one with `datarax-bench baseline update --from RUN`")
        return path, None
    folder = path / run.profile_name if (path / str(run.profile_name)).is_dir() else path
    candidates = sorted(folder.glob("*.jsonl"))
    if "machine" in run.meta:
        own = folder / f"{machine_class(run.meta['machine'])}.jsonl"
        if own.is_file():
            return own, None
    if mode == "relative" and candidates:
        newest = max(candidates, key=lambda c: _meta(c).get("updated_at", ""))
        return newest, f"no baseline for this machine class; relative mode uses {newest.name}"
    names = ", ".join(c.name for c in candidates) or "none"
    raise ResultsError(
        f"no baseline for profile {run.profile_name!r} on this machine in {folder} (found: {names}); "
        "pass a file with --baseline or record one with `datarax-bench baseline update --from RUN`"
    )


def list_baselines(root: Path = BASELINES_ROOT) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, _meta(path)) for path in sorted(root.glob("*/*.jsonl"))]


def _meta(path: Path) -> dict[str, Any]:
    meta_file = path.with_suffix(".meta.json")
    return json.loads(meta_file.read_text()) if meta_file.is_file() else {}

