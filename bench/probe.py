"""Facts about this machine that bound what a loader can reach; printed by ``datarax-bench probe``.

Every value is read from the system or measured here, never assumed. The measured ceilings
(memory-copy bandwidth, peak matmul FLOP/s, host→device bandwidth) are each the median of
several short trials taken in turns, with the spread and every trial kept; a trial disturbed
by other processes (this one's threads kept waiting for a CPU) is retried. A run measures them
once per machine fingerprint and backend, in a fresh process (the runner never imports JAX),
and caches them under the cache root; ``datarax-bench probe --remeasure`` replaces them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.machine import library_versions, machine_info
from bench.store import write_json_atomic

PROBE_VERSION = 1  # bump when a measurement changes, so cached ceilings are re-measured
TRIALS = 7
ATTEMPTS = 3  # per trial, until one is not disturbed by other processes (see _undisturbed)
MAX_WAIT_SHARE = 0.05

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


# -- measured ceilings ---------------------------------------------------------------------------

def _figure(rates: list[float], undisturbed: list[bool], unit: str, how: str) -> dict[str, Any]:
    """The median of the trials' ``rates`` as the figure, its spread, and every trial."""
    s = np.asarray(rates, dtype=np.float64)
    return {
        "median": float(np.median(s)), "min": float(s.min()), "max": float(s.max()),
        "p25": float(np.percentile(s, 25)), "p75": float(np.percentile(s, 75)),
        "trials": [float(x) for x in s], "undisturbed_trials": sum(undisturbed), "unit": unit, "how": how,
    }


def _largest_cache_bytes() -> int:
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip().upper()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        sizes.append(int(text.rstrip("KMG")) * scale if text.rstrip("KMG").isdigit() else 0)
    return max(sizes, default=32 * 2**20)


def copy_buffer_bytes() -> int:
    """Big enough that source and copy stream from RAM (together 4x the largest cache, each
    >= 64 MiB), small enough to leave the machine's memory alone (<= 1/8 of what is free)."""
    available = _meminfo().get("MemAvailable", 8 * 2**30)
    return int(min(max(64 * 2**20, 2 * _largest_cache_bytes()), available // 8))


def _runqueue_wait_s() -> float | None:
    """Seconds this process's threads have spent runnable but waiting for a CPU (Linux
    schedstat), or None where the kernel does not say."""
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        except (OSError, ValueError, IndexError):
            return None
    return total / 1e9


def _undisturbed(run: Callable[[], float]) -> tuple[float, bool]:
    """``run()`` (returning seconds) until an attempt during which this process's threads
    waited for a CPU less than ``MAX_WAIT_SHARE`` of the time: on a shared machine the
    figure is what the hardware does, not the share of it other processes left. Returns the
    seconds and whether the attempt was undisturbed (else the fastest of ``ATTEMPTS``)."""
    fastest = float("inf")
    for _ in range(ATTEMPTS):
        before = _runqueue_wait_s()
        seconds = run()
        after = _runqueue_wait_s()
        if before is None or after is None or after - before <= MAX_WAIT_SHARE * seconds:
            return seconds, True
        fastest = min(fastest, seconds)
    return fastest, False


def _timed_copies(dst: np.ndarray, src: np.ndarray, pool: ThreadPoolExecutor | None, threads: int) -> float:
    """Seconds for ``threads`` pool threads to copy disjoint slices of ``src`` into ``dst``
    (NumPy releases the GIL while it copies); one thread copies in the caller's thread."""
    if pool is None or threads == 1:
        start = time.perf_counter()
        np.copyto(dst, src)
        return time.perf_counter() - start
    edges = np.linspace(0, src.size, threads + 1).astype(int)
    start = time.perf_counter()
    copies = [pool.submit(np.copyto, dst[lo:hi], src[lo:hi]) for lo, hi in zip(edges[:-1], edges[1:])]
    for copy in copies:
        copy.result()
    return time.perf_counter() - start


# A measurement: set up once, then each call returns one trial's seconds (for its ``work``,
# bytes or FLOPs); or, instead of a Trial, why it cannot run here.
Trial = Callable[[], float]


def _matmul_trial(dtype_name: str, n: int) -> Trial | str:
    """Times a jitted n x n matmul, or says why the dtype cannot run here."""
    import jax
    import jax.numpy as jnp

    try:
        a = jax.device_put(np.ones((n, n), dtype=np.float32)).astype(jnp.dtype(dtype_name))
        matmul = jax.jit(lambda x, y: x @ y)
        matmul(a, a).block_until_ready()  # compile and warm up
    except Exception as e:  # noqa: BLE001 - an unsupported dtype is a fact to report
        return f"{dtype_name} matmul does not run on {jax.default_backend()}: {type(e).__name__}: {e}"

    def once() -> float:
        start = time.perf_counter()
        matmul(a, a).block_until_ready()
        return time.perf_counter() - start

    return once


def _host_to_device_trial(nbytes: int) -> Trial | str:
    import jax

    accelerators = [d for d in jax.devices() if d.platform != "cpu"]
    if not accelerators:
        seen = ", ".join(f"{d.platform}:{d.id}" for d in jax.devices())
        return f"no accelerator: JAX sees only {seen}, so batches never cross a host-to-device link"
    host = np.ones(nbytes, np.uint8)
    jax.device_put(host, accelerators[0]).block_until_ready()

    def once() -> float:
        start = time.perf_counter()
        jax.device_put(host, accelerators[0]).block_until_ready()
        return time.perf_counter() - start

    return once


def measure_ceilings(trials: int = TRIALS, matmul_n: int = 1024) -> dict[str, Any]:
    """Measures this machine's ceilings. The measurements take turns, trial by trial, so each
    figure's trials spread over the whole probe, and a trial is retried while other processes
    keep this one's threads waiting for a CPU (:func:`_undisturbed`).

    ``memory_bytes_per_s`` is the all-CPU copy bandwidth counting bytes read plus bytes
    written (STREAM's convention, the same as a cell's bytes moved); ``peak_flops_per_s`` is
    the best matmul median over the dtypes that run.
    """
    import jax

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    size = copy_buffer_bytes()
    src = np.ones(size, np.uint8)
    dst = np.zeros(size, np.uint8)  # written once, so no trial pays for page faults
    pool = ThreadPoolExecutor(cpus) if cpus > 1 else None
    copy = f"np.copyto of {size / 2**20:,.0f} MiB, bytes read + written per second"
    matmul = f"jax.jit {matmul_n}x{matmul_n} {{}} matmul, 2n^3 FLOPs"
    h2d_bytes = 256 * 2**20
    # name: (trial or why absent, work per trial, unit, how)
    setups: dict[str, tuple[Trial | str, float, str, str]] = {
        "copy_1_thread": (functools.partial(_timed_copies, dst, src, None, 1), 2 * size, "B/s", copy + ", 1 thread"),
        "copy_all_cpus": (functools.partial(_timed_copies, dst, src, pool, cpus), 2 * size, "B/s",
                          copy + f", {cpus} threads on disjoint slices"),
        **{f"matmul_{d}": (_matmul_trial(d, matmul_n), 2.0 * matmul_n**3, "FLOP/s", matmul.format(d))
           for d in ("float32", "bfloat16")},
        "host_to_device": (_host_to_device_trial(h2d_bytes), h2d_bytes, "B/s", f"jax.device_put of {h2d_bytes // 2**20} MiB"),
    }
    runnable = {name: setup for name, setup in setups.items() if callable(setup[0])}
    seconds: dict[str, list[tuple[float, bool]]] = {name: [] for name in runnable}
    for _ in range(trials):
        for name, (trial, *_) in runnable.items():
            seconds[name].append(_undisturbed(trial))
    del src, dst
    if pool is not None:
        pool.shutdown()
    figures = {
        name: {"absent": trial} if name not in runnable else _figure(
            [work / s for s, _ in seconds[name]], [clean for _, clean in seconds[name]], unit, how)
        for name, (trial, work, unit, how) in setups.items()
    }
    matmuls = [f["median"] for k, f in figures.items() if k.startswith("matmul_") and "median" in f]
    return {
        "probe_version": PROBE_VERSION,
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": machine_info()["fingerprint"],
        "backend": jax.default_backend(),
        "cpus": cpus,
        "memory_bytes_per_s": figures["copy_all_cpus"]["median"],
        "memory_bytes_per_s_1_thread": figures["copy_1_thread"]["median"],
        "peak_flops_per_s": max(matmuls) if matmuls else None,
        "host_to_device_bytes_per_s": figures["host_to_device"].get("median"),
        "figures": figures,
    }


def ceilings_cache_path(cache_root: Path, backend: str) -> Path:
    return cache_root / "probe" / f"{machine_info()['fingerprint']}-{backend}-v{PROBE_VERSION}.json"


def cached_ceilings(
    cache_root: Path, backend: str, env: dict[str, str], *, timeout_s: float = 600,
    status: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """This machine's ceilings for ``backend``: from the cache, else measured in a fresh
    process with the cells' environment ``env`` and cached. Raises ``RuntimeError`` naming
    the failure when the probe process fails."""
    path = ceilings_cache_path(cache_root, backend)
    if path.is_file():
        return json.loads(path.read_text())
    status("probing the machine's ceilings (once per machine)")
    out = path.with_name(f".{path.name}.{os.getpid()}.out")
    try:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "bench.probe", str(out)], env=env, capture_output=True,
                text=True, timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the machine probe took more than {timeout_s:g} s") from None
        if done.returncode != 0 or not out.is_file():
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"the machine probe exited with code {done.returncode}: {tail}")
        ceilings = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    write_json_atomic(path, ceilings)
    return ceilings


if __name__ == "__main__":  # python -m bench.probe OUT: measure, write OUT (used by cached_ceilings)
    write_json_atomic(Path(sys.argv[1]), measure_ceilings())
