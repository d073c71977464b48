"""Facts about this machine that bound what a loader can reach; printed by ``datarax-bench probe``.

Every value is read from the system, never assumed. Measured ceilings (memory bandwidth,
peak FLOP/s) belong here too, as functions that return a value with how it was measured.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from bench.machine import library_versions, machine_info

PEER_LIBRARIES = (
    "grain", "tensorflow-cpu", "torch", "ray", "nvidia-dali-cuda120", "spdl", "jax-dataloader",
    "datasets", "webdataset", "litdata",
)


def _meminfo() -> dict[str, int]:
    """``/proc/meminfo`` fields in bytes (empty where there is none)."""
    values = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    except OSError:
        pass
    return values


def _cpu_frequencies_mhz() -> list[float]:
    try:
        return [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("cpu MHz")]
    except (OSError, ValueError, IndexError):
        return []


def _jax_devices() -> list[str] | str:
    """The devices JAX sees (it honours ``JAX_PLATFORMS``), or why it cannot say."""
    try:
        import jax

        return [f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()]
    except Exception as e:  # noqa: BLE001 - a broken backend is a fact to report
        return f"unavailable ({type(e).__name__}: {e})"


def probe() -> dict[str, Any]:
    """A flat, JSON-ready description of the machine, its limits and the installed libraries."""
    facts: dict[str, Any] = dict(machine_info())
    facts["usable_cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts["cpu_mhz"] = _cpu_frequencies_mhz() or None
    meminfo = _meminfo()
    facts["ram_available_bytes"] = meminfo.get("MemAvailable")
    facts["swap_bytes"] = meminfo.get("SwapTotal")
    facts["python_implementation"] = platform.python_implementation()
    facts["jax_devices"] = _jax_devices()
    facts["versions"] = library_versions()
    facts["peer_versions"] = library_versions(PEER_LIBRARIES)
    return facts
