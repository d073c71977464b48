"""One Weights & Biases run per benchmark run.

Config = profile + machine + commit. Every scalar metric of every ok cell is logged under
``{metric}/{scenario}/{variant}/{adapter}``, with a ``results`` table of every cell (failed
ones included, with their reason), a bar chart of elements/s, the run's files as an artifact
and, when ``datarax-bench gate`` has written ``gate.json`` into the run folder, the verdict
in the summary and an alert on a regression.

Offline unless the user configured otherwise (``mode`` or ``WANDB_MODE``): files then land
in ``<run>/wandb/`` (W&B's staging and cache folders too, unless set), and
``wandb sync <run>/wandb/offline-run-*`` uploads them later. Any failure (wandb missing, no
network, bad credentials) becomes a message; the run folder's results are only read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import socket
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

from bench.compare import ResultSet, ResultsError, load_results

DEFAULT_PROJECT = "datarax-bench"
COLUMNS = (
    "cell", "scenario", "variant", "adapter", "adapter_version", "status", "reason",
    "elements_per_s", "ttfb_s", "latency_p50_s", "latency_p95_s", "latency_p99_s",
    "peak_rss_bytes", "cpu_s_per_element", "spec_hash", "git_commit", "machine_fingerprint",
)
_METRIC_COLUMNS = COLUMNS[7:14]


@dataclasses.dataclass(frozen=True)
class ExportOutcome:
    ok: bool
    message: str
    location: str | None = None


def metric_key(metric: str, record: dict[str, Any]) -> str:
    return f"{metric}/{record['scenario']}/{record['variant']}/{record['adapter']}"


def _metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    out = {}
    for r in records:
        if r["status"] != "ok":
            continue
        for name, value in (r.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[metric_key(name, r)] = value
    return out


def _row(r: dict[str, Any]) -> list[Any]:
    m = r.get("metrics") or {}
    fields = {**r, "cell": r.get("cell_id") or f"{r['scenario']}/{r['variant']}/{r['adapter']}"}
    return [m.get(c) if c in _METRIC_COLUMNS else fields.get(c) for c in COLUMNS]


def _gate_summary(gate: dict[str, Any] | None) -> dict[str, Any]:
    if gate is None:
        return {"gate/outcome": "not gated"}
    summary = {
        "gate/outcome": gate["outcome"],
        "gate/mode": gate["config"]["mode"],
        "gate/baseline_commit": gate["baseline"]["commit"],
        "gate/regressions": [c["cell"] for c in gate["cells"] if c["verdict"] in ("regression", "failed")],
    }
    for cell in gate["cells"]:
        summary[f"gate/verdict/{cell['cell']}"] = cell["verdict"]
    return summary


@contextlib.contextmanager
def _offline_folders(run_dir: Path, offline: bool) -> Iterator[None]:
    """Keeps W&B's staging and cache files of an offline export inside the run folder."""
    wanted = {"WANDB_DATA_DIR": "data", "WANDB_CACHE_DIR": "cache"} if offline else {}
    saved = {k: os.environ.get(k) for k in wanted}
    for key, sub in wanted.items():
        os.environ[key] = str(run_dir / "wandb" / sub)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def export_wandb(
    run_path: str | Path, *, project: str = DEFAULT_PROJECT, entity: str | None = None,
    mode: str | None = None,
) -> ExportOutcome:
    """Exports one run folder; never raises for W&B trouble, returns what happened."""
    try:
        results = load_results(run_path)
    except ResultsError as e:
        return ExportOutcome(False, f"W&B export skipped: {e}")
    if results.path.is_file():
        return ExportOutcome(False, f"W&B export skipped: {results.path} is not a run folder")
    try:
        import wandb
    except ImportError:
        return ExportOutcome(
            False, "W&B export skipped: the wandb package is not installed "
            "(pip install 'datarax[wandb]'); local results are unchanged"
        )
    mode = mode or os.environ.get("WANDB_MODE") or "offline"
    try:
        if mode != "offline":
            problem = _unreachable(wandb.setup().settings.base_url)
            if problem:
                return ExportOutcome(False, f"W&B export skipped: {problem}; local results in "
                                            f"{results.path} are unchanged (export offline with --wandb-mode offline)")
        return _export(wandb, results, project, entity, mode)
    except Exception as e:  # noqa: BLE001 - W&B trouble must never cost the local results
        return ExportOutcome(
            False, f"W&B export failed ({mode}): {type(e).__name__}: {e}; "
            f"local results in {results.path} are unchanged"
        )


def _unreachable(url: str, timeout_s: float = 5.0) -> str | None:
    """Why the W&B server cannot be reached, or None (wandb itself retries for minutes)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        return f"no network connection to {url} ({e})"
    return None


def _export(wandb, results: ResultSet, project: str, entity: str | None, mode: str) -> ExportOutcome:
    run_dir = results.path
    gate_file = run_dir / "gate.json"
    gate = json.loads(gate_file.read_text()) if gate_file.is_file() else None
    records = list(results.records.values())
    meta = results.meta
    config = {
        "run_id": results.label,
        "profile": meta.get("profile") or {"name": results.profile_name},
        "machine": meta.get("machine"),
        "git_commit": results.commit,
    }
    offline = mode == "offline"
    with _offline_folders(run_dir, offline):
        run = wandb.init(
            project=project, entity=entity, mode=mode, dir=str(run_dir),
            id=re.sub(r"[^A-Za-z0-9_-]", "-", results.label), name=results.label,
            job_type="benchmark", config=config,
            settings=wandb.Settings(init_timeout=60, console="off", silent=True),
        )
        try:
            table = wandb.Table(columns=list(COLUMNS), data=[_row(r) for r in records])
            chart = wandb.plot.bar(table, "cell", "elements_per_s", title="elements/s per cell")
            run.log({**_metrics(records), "results": table, "charts/elements_per_s": chart})
            run.summary.update(_gate_summary(gate))
            artifact = wandb.Artifact(f"results-{run.id}", type="benchmark-results",
                                      metadata={"git_commit": results.commit, "profile": results.profile_name})
            for name in ("results.jsonl", "run.json", "gate.json", "gate.md"):
                if (run_dir / name).is_file():
                    artifact.add_file(str(run_dir / name), name=name)
            run.log_artifact(artifact)
            if gate is not None and gate["outcome"] == "regression":
                cells = ", ".join(_gate_summary(gate)["gate/regressions"])
                run.alert(title=f"datarax-bench regression in {results.label}",
                          text=f"confirmed regression ({gate['config']['mode']} gate): {cells}",
                          level=wandb.AlertLevel.ERROR)
            location = run.dir if offline else run.url
        except BaseException:
            run.finish(exit_code=1)
            raise
        run.finish()
    where = f"offline files in {Path(location).parent}" if offline else f"{location}"
    return ExportOutcome(True, f"W&B run {run.id} exported: {where}", location)
