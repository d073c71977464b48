"""Profile capture for one chosen cell (``datarax-bench run --profile-trace CELL``).

After the cell is measured, a separate process runs it again under ``jax.profiler.trace``
(an XPlane file and a Perfetto trace, open with https://ui.perfetto.dev or TensorBoard's
profile plugin) and, when py-spy is installed, under ``py-spy record`` for a flame graph of
every Python thread and worker process. The measured cell never runs under a profiler.

Runner side: :func:`capture`. Child side: ``python -m bench.trace SPEC OUT_DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.records import CellSpec

FLAME_GRAPH = "flame.svg"
JAX_TRACE = "jax"
PY_SPY_RATE_HZ = 100


def py_spy() -> str | None:
    """The py-spy executable next to this Python, or on PATH, or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def _run(command: list[str], env: dict[str, str], log: Path, timeout_s: float) -> str | None:
    """Runs ``command`` in its own session; None on success, else why it failed."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    if code is None:
        return f"no trace within {timeout_s:g} s"
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        return f"exited with code {code}: " + " | ".join(tail)
    return None


def capture(spec: dict[str, Any], out_dir: Path, run_dir: Path, env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Traces the cell ``spec`` describes into ``out_dir``; returns the record's ``trace``
    entry: paths relative to ``run_dir``, and the reason for anything absent."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_path, log = out_dir / "spec.json", out_dir / "trace.log"
    spec_path.write_text(json.dumps(spec, indent=1))
    child = [sys.executable, "-m", "bench.trace", str(spec_path), str(out_dir)]
    spy = py_spy()
    flame_absent = None if spy else "py-spy is not installed (pip install py-spy, or the dev extra)"
    failure = "not run"
    if spy:
        flame = out_dir / FLAME_GRAPH
        failure = _run([spy, "record", "--output", str(flame), "--rate", str(PY_SPY_RATE_HZ),
                        "--subprocesses", "--", *child], env, log, timeout_s)
        if failure or not flame.is_file():
            flame_absent = f"py-spy failed: {failure or 'it wrote no flame graph'}"
    if flame_absent and not (out_dir / "trace.json").is_file():  # py-spy missing or it failed: trace alone
        failure = _run(child, env, log, timeout_s)
    manifest = out_dir / "trace.json"
    entry: dict[str, Any] = {
        "dir": str(out_dir.relative_to(run_dir)),
        "jax_trace": None,
        "flame_graph": None if flame_absent else str((out_dir / FLAME_GRAPH).relative_to(run_dir)),
        "flame_graph_absent": flame_absent,
    }
    if not manifest.is_file():
        return {**entry, "status": "failed", "reason": f"the traced run failed: {failure}"}
    files = sorted(p for p in (out_dir / JAX_TRACE).rglob("*") if p.is_file())
    return {**entry, **json.loads(manifest.read_text()), "status": "ok", "reason": None,
            "jax_trace": [str(p.relative_to(run_dir)) for p in files]}


def capture_if_ok(outcome: dict[str, Any], spec: dict[str, Any], out_dir: Path, run_dir: Path,
                  env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """:func:`capture` for a cell that measured ok; otherwise the entry says why there is none."""
    if outcome["status"] == "ok":
        return capture(spec, out_dir, run_dir, env, timeout_s)
    return {"dir": None, "jax_trace": None, "flame_graph": None, "flame_graph_absent": None,
            "status": "skipped", "reason": f"the cell is {outcome['status']}: nothing to trace"}


def trace_cell(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Child side: warm-up, then the spec's ``batches`` batches under the JAX profiler."""
    import jax

    from adapters import load_adapter
    from bench.measure import close_iterator, materialize, next_batch

    cell = CellSpec.from_json(spec)
    adapter = load_adapter(cell.adapter)
    job = cell.make_job()
    iterator = adapter.open(job)
    try:
        for _ in range(cell.warmup_batches):
            materialize(next_batch(iterator))
        with jax.profiler.trace(str(out_dir / JAX_TRACE), create_perfetto_trace=True):
            for index in range(cell.batches):
                with jax.profiler.TraceAnnotation(f"datarax-bench batch {index}"):
                    materialize(next_batch(iterator))
    finally:
        close_iterator(iterator)
        adapter.close()
    return {"traced_batches": cell.batches}


def main(argv: list[str]) -> int:
    from bench.cell import pin_cpus
    from bench.store import write_json_atomic

    spec, out_dir = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    pin_cpus(CellSpec.from_json(spec).job["cpu_budget"])
    write_json_atomic(out_dir / "trace.json", trace_cell(spec, out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
