"""Two sets of results compared cell by cell, with statistics that survive a noisy machine.

A cell is ``(scenario, variant, adapter)``. Its samples are its independent processes: each
process's sustained elements/s (every timed element over the time of every window), one value
per replicate (``run --replicates K``). The windows of one process are not independent draws:
they share its memory layout, compiled code and thread placement, and two runs of unchanged
code differed beyond any within-process test. A cell with one process on either side falls
back to that process's windows, and the verdict says so. In *relative* mode each sample is
divided by the median of the reference adapter's samples in the same run, so a uniformly
slower machine cancels out; the bootstrap resamples the reference too.

Per cell: the ratio of medians B/A (throughput: < 1 is slower) with a bootstrap 95 % CI, a
two-sided Mann-Whitney U test on the samples, and a verdict. A regression needs both
p < ``p_threshold`` and time per element grown by more than ``min_effect``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from rich.table import Table
from scipy import stats

from bench.profile import GateConfig
from bench.store import find_run, load_records

REGRESSION, IMPROVEMENT, NO_CHANGE = "regression", "improvement", "no change"
UNRELIABLE, INCOMPARABLE, FAILED = "unreliable", "incomparable", "failed"
VERDICTS = (REGRESSION, IMPROVEMENT, NO_CHANGE, UNRELIABLE, INCOMPARABLE, FAILED)

CellKey = tuple[str, str, str]


class ResultsError(ValueError):
    """A path that holds no usable results; the message names it."""


@dataclasses.dataclass(frozen=True)
class ResultSet:
    """Records of one run (a run folder or results file) or of a baseline file.

    ``meta`` is the run's ``run.json`` or the baseline's ``<name>.meta.json`` ({} if absent).
    """

    path: Path
    records: dict[CellKey, dict[str, Any]]
    meta: dict[str, Any]
    problems: tuple[str, ...] = ()
    # The cells run in more than one process: every process's record, in replicate order.
    replicates: dict[CellKey, tuple[dict[str, Any], ...]] = dataclasses.field(default_factory=dict)

    def processes(self, key: CellKey) -> tuple[dict[str, Any], ...]:
        """Every process (replicate) recorded for the cell: ``records[key]`` alone unless replicated."""
        return self.replicates.get(key) or ((self.records[key],) if key in self.records else ())

    @property
    def label(self) -> str:
        return self.meta.get("run_id") or self.meta.get("source_run") or self.path.name

    @property
    def commit(self) -> str:
        commits = {r.get("git_commit") for r in self.records.values()} - {None}
        return self.meta.get("git_commit") or (commits.pop() if len(commits) == 1 else "unknown")

    @property
    def profile_name(self) -> str | None:
        names = {r.get("profile") for r in self.records.values()}
        return names.pop() if len(names) == 1 else None


def load_results(path: str | Path, runs_root: Path = Path("results/runs")) -> ResultSet:
    """Loads a run folder, its ``results.jsonl``, a run id under ``runs_root``, or a baseline ``.jsonl``."""
    path = Path(path)
    if not path.exists():
        try:
            path = find_run(path, runs_root)
        except FileNotFoundError as e:
            raise ResultsError(str(e)) from None
    file = path / "results.jsonl" if path.is_dir() else path
    if not file.is_file():
        what = "run folder without results.jsonl" if path.is_dir() else "no such file"
        raise ResultsError(f"{path}: {what}; expected a run folder, a results.jsonl or a baseline .jsonl")
    records, problems = load_records(file)
    if not records:
        raise ResultsError(f"{file}: no result records" + (f" ({problems[0]})" if problems else ""))
    by_replicate: dict[CellKey, dict[int, dict[str, Any]]] = {}
    for r in records:
        key = (r["scenario"], r["variant"], r["adapter"])
        replicate = r.get("replicate", 0)
        if replicate in by_replicate.setdefault(key, {}):
            problems.append(f"{file}: cell {'/'.join(key)} replicate {replicate} appears twice; the last record is used")
        by_replicate[key][replicate] = r
    replicates = {k: tuple(v[i] for i in sorted(v)) for k, v in by_replicate.items()}
    by_key = {k: v[-1] for k, v in replicates.items()}
    replicates = {k: v for k, v in replicates.items() if len(v) > 1}
    meta_file = file.parent / "run.json" if file.name == "results.jsonl" else file.with_suffix(".meta.json")
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    return ResultSet(file.parent if file.name == "results.jsonl" else file, by_key, meta, tuple(problems), replicates)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One cell's verdict; ``a``/``b`` are the median samples (elements/s, or × reference)."""

    key: CellKey
    verdict: str
    reason: str = ""
    n: tuple[int, int] = (0, 0)
    a: float | None = None
    b: float | None = None
    ratio: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None

    @property
    def cell_id(self) -> str:
        return "/".join(self.key)

    @property
    def time_change(self) -> float | None:
        """Relative change of time per element, B against A (+0.25 = 25 % slower)."""
        return None if not self.ratio else 1.0 / self.ratio - 1.0

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell_id, **dataclasses.asdict(self), "time_change": self.time_change}


def repetition_throughput(record: dict[str, Any]) -> np.ndarray:
    """Per-repetition steady-state elements/s: the metric, else derived from raw latencies."""
    reps = (record.get("metrics") or {}).get("elements_per_s_by_repetition")
    if reps is None:
        latencies = (record.get("samples") or {}).get("batch_latency_s") or []
        reps = [record["batch_size"] * len(rep) / sum(rep) for rep in latencies if rep]  # whole windows
    return np.asarray(reps, dtype=float)


def cell_samples(records: tuple[dict[str, Any], ...]) -> tuple[np.ndarray, str]:
    """A cell's samples and their unit: one sustained elements/s per process when there are
    several processes, else the single process's per-window rates."""
    if len(records) > 1:
        return np.asarray([r["metrics"]["elements_per_s"] for r in records], dtype=float), "processes"
    return repetition_throughput(records[0]), "windows of one process"


def min_attainable_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p the exact Mann-Whitney test can give: 2 / C(n_a + n_b, n_a)."""
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def min_repetitions(p_threshold: float) -> int:
    """The fewest repetitions per side with which the exact test can reach ``p_threshold``."""
    n = 1
    while min_attainable_p(n, n) >= p_threshold:
        n += 1
    return n


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p; exact when there are no ties (always, for real timings), else normal."""
    tied = len(np.unique(np.concatenate([a, b]))) < len(a) + len(b)
    return float(stats.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic" if tied else "exact").pvalue)


def bootstrap_ratio_ci(
    a: np.ndarray, b: np.ndarray, ref_a: np.ndarray | None = None, ref_b: np.ndarray | None = None,
    *, level: float = 0.95, resamples: int = 4000, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of median(b) / median(a), each divided by its reference's median
    when given; every sample vector is resampled independently."""
    rng = np.random.default_rng(seed)

    def medians(x: np.ndarray | None) -> np.ndarray | float:
        return 1.0 if x is None else np.median(rng.choice(x, (resamples, len(x))), axis=1)

    ratios = (medians(b) / medians(ref_b)) / (medians(a) / medians(ref_a))
    low, high = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def judge(
    key: CellKey, a: np.ndarray, b: np.ndarray, config: GateConfig,
    ref_a: np.ndarray | None = None, ref_b: np.ndarray | None = None, unit: str = "processes",
) -> Comparison:
    """The verdict on two sample vectors (higher is better), relative to references if given;
    ``unit`` names what a sample is, for the reason."""
    n = (len(a), len(b))
    if min(n) == 0:
        return Comparison(key, UNRELIABLE, "no samples", n)
    ci = bootstrap_ratio_ci(a, b, ref_a, ref_b)
    if ref_a is not None and ref_b is not None:
        a, b = a / np.median(ref_a), b / np.median(ref_b)
    ratio = float(np.median(b) / np.median(a))
    values = dict(n=n, a=float(np.median(a)), b=float(np.median(b)), ratio=ratio, ci=ci, p=mann_whitney_p(a, b))
    floor = min_attainable_p(*n)
    if floor >= config.p_threshold:
        need = min_repetitions(config.p_threshold)
        reason = (f"{n[0]} vs {n[1]} {unit} cannot reach p < {config.p_threshold:g} "
                  f"(smallest possible p {floor:.2g}); run >= {need} replicates per side")
        return Comparison(key, UNRELIABLE, reason, **values)
    significant = values["p"] < config.p_threshold
    if significant and 1 / ratio > 1 + config.min_effect:
        verdict = REGRESSION
    elif significant and ratio > 1 + config.min_effect:
        verdict = IMPROVEMENT
    else:
        verdict = NO_CHANGE
    return Comparison(key, verdict, "" if unit == "processes" else f"samples: {unit}", **values)


def _incomparable(ra: dict[str, Any], rb: dict[str, Any], mode: str) -> str | None:
    checks = [("profile", "profile"), ("spec_hash", "scenario spec hash"), ("cpu_budget", "CPU budget")]
    if mode == "absolute":
        checks.append(("machine_fingerprint", "machine fingerprint"))
    for field, name in checks:
        va, vb = ra.get(field), rb.get(field)
        if va is not None and vb is not None and va != vb:
            hint = " (relative mode compares across machines)" if field == "machine_fingerprint" else ""
            return f"{name} differs: {va} vs {vb}{hint}"
    windows = [_window_setting(r) for r in (ra, rb)]
    if all(windows) and windows[0] != windows[1]:
        return f"timed windows differ: {windows[0]} vs {windows[1]}"
    return None


def _window_setting(record: dict[str, Any]) -> str | None:
    """How a record's windows were sized: at least N batches and S seconds (older records:
    the fixed length of their first window)."""
    metrics = record.get("metrics") or {}
    if "window_min_batches" in metrics:
        return f">= {metrics['window_min_batches']} batches and {metrics.get('window_min_s') or 0:g} s"
    first = ((record.get("samples") or {}).get("batch_latency_s") or [[]])[0]
    return f"{len(first)} batches" if first else None


def _not_ok(record: dict[str, Any] | None, side: str) -> str | None:
    if record is None:
        return f"not in {side}"
    if record["status"] != "ok":
        return f"{side}: {record['status']}: {record.get('reason')}"
    return None


def _processes_not_ok(rs: ResultSet, key: CellKey, side: str) -> str | None:
    """Why the cell has no usable samples on this side: absent, or any of its processes not ok."""
    return next((p for p in map(lambda r: _not_ok(r, side), rs.processes(key) or (None,)) if p), None)


def _reference(rs: ResultSet, key: CellKey, config: GateConfig, side: str) -> np.ndarray | str:
    ref_key = (key[0], key[1], config.reference)
    problem = _processes_not_ok(rs, ref_key, side)
    if problem:
        return f"reference {config.reference!r} {problem}"
    return cell_samples(rs.processes(ref_key))[0]


def compare(
    a: ResultSet, b: ResultSet, config: GateConfig, *, mode: str | None = None,
    adapters: Iterable[str] | None = None,
) -> list[Comparison]:
    """Every cell of A and B (or only ``adapters``'), A being the baseline."""
    mode = mode or config.mode
    keys = list(dict.fromkeys([*b.records, *a.records]))
    wanted = set(adapters) if adapters is not None else None
    out = []
    for key in keys:
        if (wanted is not None and key[2] not in wanted) or (mode == "relative" and key[2] == config.reference):
            continue
        ra, rb = a.records.get(key), b.records.get(key)
        problem = _not_ok(ra, "A") or (None if rb is None else _incomparable(ra, rb, mode))
        if problem:
            out.append(Comparison(key, INCOMPARABLE, problem))
            continue
        problem = _processes_not_ok(a, key, "A")
        if problem:
            out.append(Comparison(key, INCOMPARABLE, problem))
            continue
        problem = _processes_not_ok(b, key, "B")
        if problem:
            out.append(Comparison(key, FAILED if rb is not None else INCOMPARABLE, problem))
            continue
        (sa, unit), (sb, unit_b) = cell_samples(a.processes(key)), cell_samples(b.processes(key))
        if unit != unit_b:  # never mix the two kinds of sample: both sides fall back to windows
            sa, sb = repetition_throughput(ra), repetition_throughput(rb)
            unit = "windows of one process (one side has a single process)"
        if mode == "absolute":
            out.append(judge(key, sa, sb, config, unit=unit))
            continue
        ref_a, ref_b = _reference(a, key, config, "A"), _reference(b, key, config, "B")
        problem = next((r for r in (ref_a, ref_b) if isinstance(r, str)), None)
        out.append(Comparison(key, INCOMPARABLE, problem) if problem else judge(key, sa, sb, config, ref_a, ref_b, unit))
    return out


_COLUMNS = ("cell", "A", "B", "B/A (95% CI)", "p", "verdict")


def _row(c: Comparison, mode: str) -> tuple[str, ...]:
    fmt = (lambda v: f"{v:.3f}×") if mode == "relative" else (lambda v: f"{v:,.0f}/s")
    ratio = "—" if c.ratio is None else f"{c.ratio:.3f} [{c.ci[0]:.3f}, {c.ci[1]:.3f}]"
    verdict = c.verdict + (f": {c.reason}" if c.reason else "")
    return (c.cell_id, "—" if c.a is None else fmt(c.a), "—" if c.b is None else fmt(c.b), ratio,
            "—" if c.p is None else f"{c.p:.2g}", verdict)


def rich_table(comparisons: Iterable[Comparison], mode: str, title: str = "") -> Table:
    styles = {REGRESSION: "red", FAILED: "red", IMPROVEMENT: "green", UNRELIABLE: "yellow", INCOMPARABLE: "yellow"}
    table = Table(title=title or None)
    for column in _COLUMNS:
        table.add_column(column, justify="left" if column in ("cell", "verdict") else "right")
    for c in comparisons:
        table.add_row(*_row(c, mode), style=styles.get(c.verdict))
    return table


def markdown_table(comparisons: Iterable[Comparison], mode: str) -> str:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for c in comparisons:
        cells = list(_row(c, mode))
        if c.verdict in (REGRESSION, FAILED):
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines)
