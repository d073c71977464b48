"""A process and all its descendants, read cheaply from ``/proc`` (psutil where there is none).

The runner samples a cell's tree every few milliseconds while the cell is being measured, on a
machine whose cores the cell is using, so a sample must cost little: descendants are found by
reading the ``stat`` file of *new* pids only, and memory from ``statm``.

Memory is reported two ways. RSS counts a page shared by N processes N times (a forked worker
pool sharing its parent's libraries, or a memory-mapped dataset, is counted once per worker);
PSS divides each shared page among its sharers, so the tree's PSS sum is the memory it costs.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_PROC = Path("/proc")
HAS_PROC = (_PROC / "self" / "stat").is_file()
_PAGE = os.sysconf("SC_PAGE_SIZE") if HAS_PROC else 4096
_TICK = os.sysconf("SC_CLK_TCK") if HAS_PROC else 100


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/pid/stat`` after the command name (field 3, state, is index 0)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class ProcessTree:
    """``root`` and every process descended from it or sharing its session.

    A worker orphaned by its parent still counts (its parent is remembered), and so does one
    that left the tree but not the session (the runner starts each cell in a new session).
    """

    def __init__(self, root: int):
        self.root = root
        self._parent: dict[int, int] = {}
        self._session: dict[int, int] = {}
        self._members: set[int] = {root}

    def pids(self) -> list[int]:
        """The live members, root first; discovers processes started since the last call."""
        if not HAS_PROC:
            return self._pids_psutil()
        live = {int(name) for name in os.listdir(_PROC) if name.isdigit()}
        for pid in live - self._parent.keys():
            fields = _stat_fields(pid)
            if fields is not None:
                self._parent[pid], self._session[pid] = int(fields[1]), int(fields[3])
        for gone in self._parent.keys() - live:
            del self._parent[gone], self._session[gone]
        self._members &= live
        # Session members count only when the root leads its own session (the runner's cells).
        session = self.root if self._session.get(self.root) == self.root else None
        changed = True
        while changed:  # parents may be discovered after their children
            changed = False
            for pid, parent in self._parent.items():
                if pid not in self._members and (parent in self._members or self._session[pid] == session):
                    self._members.add(pid)
                    changed = True
        return sorted(self._members, key=lambda pid: pid != self.root)

    def _pids_psutil(self) -> list[int]:
        import psutil

        try:
            root = psutil.Process(self.root)
            return [self.root, *(p.pid for p in root.children(recursive=True))]
        except psutil.Error:
            return []

    def rss(self) -> int:
        """Sum of the members' resident set sizes, in bytes."""
        if not HAS_PROC:
            return self._sum_psutil(lambda p: p.memory_info().rss)
        total = 0
        for pid in self.pids():
            try:
                total += int((_PROC / str(pid) / "statm").read_text().split()[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                continue
        return total

    def pss(self) -> int | None:
        """Sum of the members' proportional set sizes in bytes; None where the OS has none."""
        if not HAS_PROC:
            return None
        total = 0
        for pid in self.pids():
            try:
                for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            except (OSError, ValueError, IndexError):
                continue
        return total

    def cpu_seconds(self, *, skip_root: bool = False) -> float:
        """User+system CPU of the live members, including what their reaped children used."""
        pids = self.pids()[1:] if skip_root else self.pids()
        if not HAS_PROC:
            return self._sum_psutil(lambda p: sum(p.cpu_times()[:4]), pids)
        ticks = 0
        for pid in pids:
            fields = _stat_fields(pid)
            if fields is not None:  # utime, stime, cutime, cstime
                ticks += sum(int(f) for f in fields[11:15])
        return ticks / _TICK

    def peak_rss_of_one(self) -> int:
        """The largest resident high-water mark of any live member, in bytes (kernel-kept)."""
        return max((_status_kib(pid, "VmHWM:") * 1024 for pid in self.pids()), default=0)

    def _sum_psutil(self, read, pids: list[int] | None = None) -> int | float:
        import psutil

        total = 0
        for pid in self.pids() if pids is None else pids:
            try:
                total += read(psutil.Process(pid))
            except psutil.Error:
                continue
        return total


def own_tree_cpu_seconds(tree: ProcessTree) -> float:
    """CPU of this process, its reaped descendants and its live ones (``tree.root`` is us).

    Exact at any instant, unlike sampling: a worker that starts and ends between two reads
    is still counted, through ``RUSAGE_CHILDREN`` once it is reaped.
    """
    me, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    live = tree.cpu_seconds(skip_root=True)
    return me.ru_utime + me.ru_stime + reaped.ru_utime + reaped.ru_stime + live


def own_peak_rss_of_one() -> int:
    """The largest high-water RSS of this process or of a descendant it has reaped, in bytes.

    Our own comes from ``VmHWM``: ``getrusage(RUSAGE_SELF).ru_maxrss`` would still hold the
    peak of the process image before ``exec`` (the runner's). A reaped child's ``ru_maxrss``
    can include our RSS when it was forked, which is still a lower bound of the tree's peak.
    """
    if not HAS_PROC:
        return 0
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    return max(_status_kib(os.getpid(), "VmHWM:") * 1024, reaped)
