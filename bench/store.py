"""Run folders and result records: one JSON line per cell, appended atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "timeout", "unsupported", "unavailable", "non-conformant")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Writes ``obj`` as JSON via a temporary file and a rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Appends one record as a single ``write`` of one line, then fsyncs.

    A run killed mid-way keeps every record appended before the kill.
    """
    line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Returns ``(records, problems)``; a corrupt line is named by number and skipped."""
    records, problems = [], []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{path}:{number}: not valid JSON ({e.msg})")
                continue
            if not isinstance(record, dict) or record.get("status") not in STATUSES:
                problems.append(f"{path}:{number}: not a result record")
                continue
            records.append(record)
    return records, problems
