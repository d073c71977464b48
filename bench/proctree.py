"""A process and all its descendants, read cheaply from ``/proc`` (psutil where there is none).

The runner samples a cell's tree every 20 ms on a machine whose cores the cell is using, so a
sample must cost little: membership is decided once per process, when a scan first sees its
pid, and a sample then reads one small ``statm`` file per member.

Memory is reported two ways. RSS counts a page shared by N processes N times (a forked worker
pool sharing its parent's libraries, or a memory-mapped dataset, is counted once per worker);
PSS divides each shared page among its sharers, so the tree's PSS sum is the memory it costs.
"""

from __future__ import annotations

import os
import resource

HAS_PROC = os.path.isfile("/proc/self/stat")
_PAGE = os.sysconf("SC_PAGE_SIZE") if HAS_PROC else 4096
_TICK = os.sysconf("SC_CLK_TCK") if HAS_PROC else 100


def _read(pid: int, name: str) -> bytes:
    fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields of ``/proc/pid/stat`` after the command name: state, ppid, pgrp, session, …"""
    try:
        text = _read(pid, "stat")
    except OSError:
        return None
    return text[text.rfind(b")") + 2 :].split()


def _field_kib(pid: int, name: str, key: bytes) -> int:
    """A ``key: N kB`` line of ``/proc/pid/<name>`` in bytes; 0 when unreadable."""
    try:
        for line in _read(pid, name).splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class ProcessTree:
    """``root`` and every process descended from it, or in its session if it leads one.

    A worker orphaned by its parent still counts (it was a member when first seen), and so
    does one that left the tree but not the session (the runner starts each cell in a new one).
    """

    def __init__(self, root: int):
        self.root = root
        self._seen: set[int] = set()
        self._members: set[int] = {root}
        fields = _stat_fields(root) if HAS_PROC else None
        self._session = root if fields and int(fields[3]) == root else None

    def scan(self) -> None:
        """Admits the processes started since the last scan; forgets the ones that ended."""
        if not HAS_PROC:
            return
        live = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        new, self._seen = live - self._seen, live
        self._members &= live
        pending = {}
        for pid in new - self._members:
            fields = _stat_fields(pid)
            if fields is not None:
                pending[pid] = (int(fields[1]), int(fields[3]))
        admitted = True
        while admitted:  # a child may be seen in the same scan as its parent, in any order
            admitted = False
            for pid, (parent, session) in list(pending.items()):
                if parent in self._members or session == self._session:
                    self._members.add(pid)
                    del pending[pid]
                    admitted = True

    def pids(self, *, rescan: bool = True) -> list[int]:
        """The live members, root first."""
        if not HAS_PROC:
            return self._pids_psutil()
        if rescan:
            self.scan()
        return sorted(self._members, key=lambda pid: pid != self.root)

    def _pids_psutil(self) -> list[int]:
        import psutil

        try:
            return [self.root, *(p.pid for p in psutil.Process(self.root).children(recursive=True))]
        except psutil.Error:
            return []

    def rss(self, *, rescan: bool = True) -> int:
        """Sum of the members' resident set sizes, in bytes."""
        if not HAS_PROC:
            return self._sum_psutil(lambda p: p.memory_info().rss)
        total = 0
        for pid in self.pids(rescan=rescan):
            try:
                total += int(_read(pid, "statm").split()[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                continue
        return total

    def pss(self, *, rescan: bool = True) -> int | None:
        """Sum of the members' proportional set sizes in bytes; None where the OS has none."""
        if not HAS_PROC:
            return None
        return sum(_field_kib(pid, "smaps_rollup", b"Pss:") for pid in self.pids(rescan=rescan))

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
        return max((_field_kib(pid, "status", b"VmHWM:") for pid in self.pids()), default=0)

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
    return max(_field_kib(os.getpid(), "status", b"VmHWM:"), reaped)
