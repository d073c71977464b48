"""Run folders and result records: one JSON line per cell, appended atomically, schema-checked.

A run folder ``<root>/<run-id>/`` holds ``run.json`` (profile, machine, cells planned) and
``results.jsonl`` (one record per finished cell, see ``record.schema.json``).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
STATUSES = ("ok", "failed", "timeout", "unsupported", "unavailable", "non-conformant")
RESULTS, RUN_INFO = "results.jsonl", "run.json"
LEGACY_DELIVERY = "host"  # records written before ``delivery`` existed were timed to host arrays


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` via a temporary file and a rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """Writes ``obj`` as indented JSON, atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(obj, indent=1, default=str))


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Appends one record as a single ``write`` of one line, then fsyncs.

    A run killed mid-way keeps every record appended before the kill. If an earlier writer
    died mid-line, a newline is written first so the torn line stays the only bad one.
    """
    line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def record_schema() -> dict[str, Any]:
    """The JSON Schema every stored record satisfies (shipped as ``bench/record.schema.json``)."""
    return json.loads(resources.files("bench").joinpath("record.schema.json").read_text())


@functools.cache
def _validator():
    import jsonschema

    schema = record_schema()
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def record_problem(record: Any) -> str | None:
    """Why ``record`` does not match the schema (the deepest, most relevant error), or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(record))
    if error is None:
        return None
    return f"{error.message} (at {error.json_path})"


def load_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Returns ``(records, problems)``; a line that is not JSON or not a valid record is named
    by its line number in ``problems`` and skipped, and every other line still loads. A record
    stored before ``delivery`` existed reads as ``delivery: "host"``, ``device: "host"``."""
    records, problems = [], []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path}:{number}: not valid JSON ({e.msg})")
                continue
            problem = record_problem(record)
            if problem:
                problems.append(f"{path}:{number}: not a valid result record: {problem}")
                continue
            if "delivery" not in record:
                record.update(delivery=LEGACY_DELIVERY, device=record.get("device", "host"))
            records.append(record)
    return records, problems


def find_run(run: str | Path, root: Path) -> Path:
    """The run folder named by ``run``: a run id under ``root``, a folder, or its results file.

    Raises ``FileNotFoundError`` naming the runs that do exist under ``root``.
    """
    path = Path(run)
    for candidate in (path, root / str(run)):
        if candidate.is_file() and candidate.name == RESULTS:
            return candidate.parent
        if (candidate / RUN_INFO).is_file() or (candidate / RESULTS).is_file():
            return candidate
    known = sorted(p.name for p in root.glob("*") if (p / RUN_INFO).is_file()) if root.is_dir() else []
    listing = ", ".join(known[-10:]) if known else "none"
    raise FileNotFoundError(f"no run {str(run)!r} (not a run folder, and not a run id under {root}); runs there: {listing}")
