"""Ends a cell's whole session when the cell ends or its runner dies, however it dies.

The runner starts one reaper per cell (``python -S bench/reaper.py MARKER RECORD``: stdlib only,
a few tens of ms), in a session of its own, so neither a kill of the runner's process group
nor the cell's RSS sampling reaches it. The reaper holds the read end of a pipe whose write end
only the runner holds; the runner sends the cell's session id down it, and EOF (the cell
ended and the runner closed it, or the runner died) makes the reaper SIGKILL every process of
the cell, remove the cell's session record and exit.

A process is the cell's when its environment carries ``DATARAX_BENCH_CELL=MARKER`` (unique per
cell run), or when it is in the cell's session and started after the cell did, while the
session's leader is the cell or gone (a recycled pid leading another session is left alone).
The session record (``cells/<stem>.session.json``) outlives a runner *and* reaper that both
died; :func:`end_leftovers` finds such records and ends what they name.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ENV = "DATARAX_BENCH_CELL"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, int] | None:
    """``(session, start time in clock ticks since boot)`` of ``pid``, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()
    return int(fields[3]), int(fields[19])


def _carries(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def members(marker: str, sid: int | None = None, since: int = 0) -> list[int]:
    """The live processes of the cell: see the module's docstring."""
    if not os.path.isdir("/proc"):
        return []
    needle = f"{ENV}={marker}".encode()
    leader = _stat(sid) if sid else None
    by_session = sid is not None and (leader is None or leader[1] == since)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        stat = _stat(int(name))
        if stat is None or stat[1] < since:
            continue
        if (by_session and stat[0] == sid) or _carries(int(name), needle):
            found.append(int(name))
    return found


def reap(marker: str, sid: int | None = None, since: int = 0) -> int:
    """SIGKILLs the cell's processes until none is left (a dying pool may fork once more);
    returns how many were killed."""
    killed: set[int] = set()
    for _ in range(50):
        pids = [p for p in members(marker, sid, since) if p not in killed or _alive(p)]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    return len(killed)


def _alive(pid: int) -> bool:
    """True while ``pid`` is running (a zombie, which holds nothing but its pid, is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return False
    return text[text.rfind(b")") + 2 : text.rfind(b")") + 3] != b"Z"


def end_leftovers(run_dirs, report=None) -> list[str]:
    """Ends the processes named by the run folders' session records whose runner is gone, and
    removes the records; a record whose runner is alive (a run in progress) is left alone.

    Returns, and writes to ``report`` (stderr by default), one line per record that still had
    live processes.
    """
    import json

    lines = []
    for run_dir in run_dirs:
        for path in sorted(Path(run_dir, "cells").glob("*.session.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if record.get("boot_id") != boot_id():
                path.unlink(missing_ok=True)
                continue
            if start_ticks(record["runner_pid"]) == record["runner_start"]:
                continue
            killed = reap(record["marker"], record.get("sid"), record["since"])
            path.unlink(missing_ok=True)
            if killed:
                lines.append(f"ended {killed} leftover process(es) of cell {path.name.removesuffix('.session.json')} "
                             f"of run {Path(run_dir).name}")
                print(f"datarax-bench: {lines[-1]}", file=report or sys.stderr)
    return lines


def main(argv: list[str]) -> int:
    """Reaper process: ``MARKER RECORD``, the pipe on stdin (``SID SINCE\\n``, then EOF)."""
    marker, record = argv
    for name in ("SIGINT", "SIGHUP"):  # a terminal's signals meant for the runner
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    data = b""
    while chunk := os.read(0, 4096):
        data += chunk
    sid, since = (int(x) for x in data.split()[:2]) if data.strip() else (None, start_ticks(os.getpid()) or 0)
    reap(marker, sid, since)
    Path(record).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
