"""Runs one cell in a fresh process and watches it: time limit, memory limit, peak memory.

The cell runs in its own session, so a kill reaches every worker it started, and next to it
runs a reaper (``bench.reaper``) that ends the whole session when the cell ends or when this
process dies, even by SIGKILL; a session record in the cell folder lets a later run end what
a runner and reaper that both died left behind. While it runs,
this process samples the RSS of the cell's whole process tree (cheaply, from ``/proc``) and
kills the tree when it passes the memory limit; ``RLIMIT_AS`` is not used because JAX and
other runtimes reserve far more address space than they touch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from bench import reaper
from bench.proctree import ProcessTree
from bench.store import write_json_atomic

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.02  # RSS of the known members every 20 ms
SCAN_EVERY = 5  # new members and PSS (costlier: a /proc listing, smaps_rollup) every 100 ms
EXIT_GRACE_S = 10.0


@dataclasses.dataclass(frozen=True)
class Limits:
    timeout_s: float
    memory_limit_bytes: int | None = None


@dataclasses.dataclass
class Watch:
    """What the parent saw of the cell's process tree."""

    peak_rss_bytes: int = 0
    peak_pss_bytes: int | None = None
    polls: int = 0

    def sample(self, tree: ProcessTree) -> int:
        full = self.polls % SCAN_EVERY == 0
        rss = tree.rss(rescan=full)
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        if full:
            pss = tree.pss(rescan=False)
            if pss is not None:
                self.peak_pss_bytes = max(self.peak_pss_bytes or 0, pss)
        self.polls += 1
        return rss


def child_env(backend: str, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The cell's environment: this one, with the code under test (``root``) first on the path."""
    env = dict(os.environ)
    path = [str(root), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    if backend == "cpu":
        env.setdefault("JAX_PLATFORMS", "cpu")
    return env


def run_isolated(spec: dict[str, Any], cell_dir: Path, stem: str, limits: Limits, env: dict[str, str],
                 root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Runs ``python -m bench.cell`` on ``spec``; returns its outcome or the failure's.

    ``root`` is the code under test: another checkout (the base of an A/B run) runs its own
    ``bench.cell``, datarax and adapters, started in that folder so nothing here shadows them.

    The outcome always carries ``peak_rss_bytes`` (largest tree-wide RSS sum seen, or the
    largest high-water mark of one process, whichever is larger) and ``peak_pss_bytes``.
    """
    spec_path, out_path = cell_dir / f"{stem}.json", cell_dir / f"{stem}.out.json"
    log_path = cell_dir / f"{stem}.log"
    write_json_atomic(spec_path, {**spec, "parent_pid": os.getpid()})
    out_path.unlink(missing_ok=True)
    watch = Watch()
    with open(log_path, "wb") as log, reaped(cell_dir, stem) as (marker, started):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.cell", str(spec_path), str(out_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**env, reaper.ENV: marker},
            cwd=None if root == PROJECT_ROOT else root,
            start_new_session=True,  # its own process group: a kill reaches its workers too
        )
        try:
            started(proc.pid)
            failure = _watch(proc, out_path, watch, limits)
        finally:
            _kill_group(proc)  # on every path: stray workers, Ctrl-C, errors here
    if failure is None and out_path.is_file():
        outcome = json.loads(out_path.read_text())
    else:
        outcome = failure or {"status": "failed", "reason": _death_reason(proc.returncode, log_path)}
    metrics = outcome.get("metrics") or {}
    metrics["peak_rss_bytes"] = max(watch.peak_rss_bytes, outcome.pop("peak_rss_of_one_bytes", 0))
    metrics["peak_pss_bytes"] = watch.peak_pss_bytes
    outcome["metrics"] = metrics
    return outcome


@contextlib.contextmanager
def reaped(cell_dir: Path, stem: str) -> Iterator[tuple[str, Callable[[int], None]]]:
    """A reaper for one cell: yields the marker for the cell's environment and a function
    to call with the cell's pid once it runs; on exit, the reaper ends what is left of the cell.

    Only this process holds the pipe's write end, so the reaper also acts when it dies.
    """
    marker = f"{cell_dir.parent.name}/{stem}/{secrets.token_hex(4)}"
    record = cell_dir / f"{stem}.session.json"
    read, write = os.pipe()
    try:
        guard = subprocess.Popen(
            [sys.executable, "-S", reaper.__file__, marker, str(record)], stdin=read,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    except BaseException:
        os.close(write)
        raise
    finally:
        os.close(read)

    def started(pid: int) -> None:
        since = reaper.start_ticks(pid) or 0
        write_json_atomic(record, {"marker": marker, "sid": pid, "since": since, "runner_pid": os.getpid(),
                                   "runner_start": reaper.start_ticks(os.getpid()), "boot_id": reaper.boot_id()})
        os.write(write, f"{pid} {since}\n".encode())

    try:
        yield marker, started
    finally:
        os.close(write)
        guard.wait()
        record.unlink(missing_ok=True)


def _watch(proc: subprocess.Popen, out_path: Path, watch: Watch, limits: Limits) -> dict[str, Any] | None:
    """Polls until the cell exits (None) or breaks a limit (the failure's outcome).

    A cell that wrote its result but does not exit (a loader's thread blocking interpreter
    shutdown) is given ``EXIT_GRACE_S``, then killed; its result stands.
    """
    tree = ProcessTree(proc.pid)
    deadline = time.monotonic() + limits.timeout_s
    exit_by = None
    while proc.poll() is None:
        if exit_by is None and out_path.is_file():
            exit_by = time.monotonic() + EXIT_GRACE_S
        elif exit_by is not None and time.monotonic() > exit_by:
            return None
        rss = watch.sample(tree)
        if limits.memory_limit_bytes is not None and rss > limits.memory_limit_bytes:
            return {
                "status": "failed",
                "reason": (
                    f"memory limit of {limits.memory_limit_bytes / 2**20:,.0f} MiB exceeded: the cell's "
                    f"process tree reached {rss / 2**20:,.0f} MiB RSS and was killed"
                ),
            }
        if time.monotonic() > deadline:
            return {"status": "timeout", "reason": f"no result within {limits.timeout_s:g} s"}
        time.sleep(POLL_S)
    return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _death_reason(returncode: int, log_path: Path) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = f"killed by {name}" + (" (by the kernel's out-of-memory killer?)" if name == "SIGKILL" else "")
    else:
        why = f"exited with code {returncode} without a result"
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    return why + (": " + " | ".join(tail) if tail else "")
