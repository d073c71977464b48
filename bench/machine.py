"""Facts about the machine and the code under test, recorded with every run."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def stolen_cpu_seconds() -> float | None:
    """CPU seconds the hypervisor has given to other guests since boot, summed over this
    machine's CPUs (``steal`` in ``/proc/stat``); None where the kernel does not count it."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == b"cpu" and len(fields) > 8 else None
    except (OSError, ValueError, IndexError):
        return None


def machine_info() -> dict:
    import psutil

    info = {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
    # RAM rounded to GiB so the fingerprint survives small kernel reservations.
    key = f"{info['cpu_model']}|{info['cores']}|{round(info['ram_bytes'] / 2**30)}|{info['arch']}"
    info["fingerprint"] = hashlib.sha256(key.encode()).hexdigest()[:12]
    return info


def git_commit(cwd: str | Path | None = None) -> str:
    """The commit of the code under test, with ``-dirty`` when the tree has changes."""
    root = cwd or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


CORE_LIBRARIES = ("datarax", "jax", "jaxlib", "flax", "numpy")


def library_versions(names: tuple[str, ...] = CORE_LIBRARIES) -> dict[str, str | None]:
    """Installed versions of ``names`` (distribution names), None for one not installed."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
