"""Finding and reading a run folder (or a baseline JSONL) for the report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bench.store import load_records

DEFAULT_RUNS_DIR = Path("results/runs")


class RunNotFound(ValueError):
    """A run id or path that names no results; the message says where it looked."""


@dataclasses.dataclass(frozen=True)
class RunData:
    """One run's records and metadata, as stored; ``meta`` is run.json (empty when absent)."""

    name: str
    folder: Path
    records: tuple[dict[str, Any], ...]
    meta: dict[str, Any]
    problems: tuple[str, ...] = ()

    @property
    def machine(self) -> dict[str, Any]:
        return self.meta.get("machine") or {}

    @property
    def profile_name(self) -> str | None:
        profile = self.meta.get("profile")
        if isinstance(profile, dict):
            return profile.get("name")
        return profile or next((r.get("profile") for r in self.records if r.get("profile")), None)


def resolve_results(run: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """Path of the results file for a run id, a run folder or a ``.jsonl`` file."""
    path = Path(run)
    candidates = [path, runs_dir / str(run)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if (candidate / "results.jsonl").is_file():
            return candidate / "results.jsonl"
    known = sorted(p.name for p in runs_dir.glob("*") if (p / "results.jsonl").is_file())[-5:]
    hint = f"; recent runs in {runs_dir}: {', '.join(known)}" if known else f"; {runs_dir} holds no runs"
    raise RunNotFound(
        f"no results for {str(run)!r}: looked for {path} and {runs_dir / str(run)} "
        f"(a run id, a run folder, or a results .jsonl file){hint}"
    )


def load_run(run: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> RunData:
    results = resolve_results(run, runs_dir)
    records, problems = load_records(results)
    # A run folder keeps its metadata in run.json; a baseline file in <name>.meta.json beside it.
    meta_path = results.parent / "run.json" if results.name == "results.jsonl" else results.with_suffix(".meta.json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    name = meta.get("run_id") or (results.parent.name if results.name == "results.jsonl" else results.stem)
    return RunData(name, results.parent, tuple(records), meta, tuple(problems))
