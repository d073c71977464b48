"""Interleaved A/B: the base commit and the head judged on one machine, cell by cell.

The base is checked out in a git worktree and runs its own ``bench.cell``, datarax and
adapters; the head is this checkout. Its profile — the gated cells, the thresholds and the
number of processes — is read from the *base* commit, so a change cannot loosen its own
gate. Every gated cell runs ``gate.replicates`` processes per side, base and head alternating
(ABBA from cell to cell), so drift on the machine hits both sides alike; the verdict is the
gate's, in absolute mode (same machine, same minutes). A suspected regression is re-measured
the same way ``gate.confirm_runs`` times, both sides fresh, and stands only if every re-run
flags it. Committed baselines stay for nightly tracking on a known machine class.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.compare import REGRESSION, load_results
from bench.gate import GateReport, run_gate
from bench.isolation import PROJECT_ROOT
from bench.profile import CellSelection, Profile, profile_from_dict
from bench.runner import Progress, Silent, locked, new_run, plan, run_cells

SIDES = ("base", "head")


class ABError(RuntimeError):
    """The base could not be checked out or read; the message says why."""


def checkout_base(ref: str, into: Path) -> Path:
    """A detached worktree of ``ref`` at ``into`` (reused when it is already there)."""
    if (into / "bench").is_dir():
        return into
    done = subprocess.run(["git", "worktree", "add", "--detach", str(into), ref], cwd=PROJECT_ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise ABError(f"cannot check out base {ref!r}: {done.stderr.strip()}")
    return into


def base_profile(base_root: Path, name: str) -> Profile:
    """Profile ``name`` as the base commit ships it."""
    code = ("import json, sys; from bench.profile import load_profile; "
            "print(json.dumps(load_profile(sys.argv[1]).to_dict()))")
    done = subprocess.run([sys.executable, "-c", code, name], cwd=base_root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(base_root)})
    if done.returncode:
        raise ABError(f"the base cannot load profile {name!r}: {done.stderr.strip().splitlines()[-1:]}")
    return profile_from_dict(json.loads(done.stdout), source=f"{base_root} profile {name}")


def run_ab(
    profile: Profile, base_root: Path, output: Path, *, cells: tuple[CellSelection, ...] | None = None,
    envs: dict[str, dict[str, str]] | None = None, cache_root: Path | None = None, progress: Progress | None = None,
) -> dict[str, Path]:
    """One run folder per side under ``output``, the gated cells interleaved; returns them."""
    gate = profile.gate
    profile = profile.with_overrides(adapters=gate.targets, replicates=gate.replicates, **({"cells": cells} if cells else {}))
    roots = {"base": base_root.resolve(), "head": PROJECT_ROOT}
    planned = plan(profile)
    runs = {side: new_run(profile, planned, output.resolve() / side, roots[side]) for side in SIDES}
    cache_root = (cache_root or Path(os.environ.get("DATARAX_BENCH_CACHE", "results/cache"))).resolve()
    progress = progress or Silent()
    for i, cell in enumerate(planned):
        for side in SIDES if i % 2 == 0 else SIDES[::-1]:
            run_dir, info = runs[side]
            with locked(run_dir):
                run_cells(run_dir, info, profile, [cell], set(), cache_root, progress,
                          root=roots[side], extra_env=(envs or {}).get(side))
    return {side: runs[side][0] for side in SIDES}


def gate_ab(
    profile: Profile, base_root: Path, output: Path, *, envs: dict[str, dict[str, str]] | None = None,
    cache_root: Path | None = None, progress: Progress | None = None,
) -> GateReport:
    """The interleaved runs, the gate's verdict on them, and fresh A/B re-runs of its suspects."""
    config = dataclasses.replace(profile.gate, mode="absolute")
    runs = run_ab(profile, base_root, output / "ab", envs=envs, cache_root=cache_root, progress=progress)
    base, head = load_results(runs["base"]), load_results(runs["head"])
    report = run_gate(head, base, config, notes=(f"interleaved A/B: base {base.commit}, head {head.commit}",))
    suspects = [c for c in report.comparisons if c.verdict == REGRESSION]
    for k in range(config.confirm_runs if suspects else 0):
        cells = tuple(CellSelection(s, (v,)) for s, v in dict.fromkeys(c.key[:2] for c in suspects))
        again = run_ab(profile, base_root, output / f"confirm-{k + 1}", cells=cells, envs=envs,
                       cache_root=cache_root, progress=progress)
        rerun = run_gate(load_results(again["head"]), load_results(again["base"]), config)
        verdicts = {c.key: c for c in rerun.comparisons}
        comparisons = []
        for c in report.comparisons:
            if c.verdict == REGRESSION:
                v = verdicts.get(c.key)
                if v is None or v.verdict not in (REGRESSION, "no change", "improvement"):
                    c = dataclasses.replace(c, verdict="unreliable", reason=(
                        f"flagged, then A/B re-run {k + 1} could not judge it: {v.reason if v else 'missing'}"))
                elif v.verdict != REGRESSION:
                    c = dataclasses.replace(c, verdict="no change", reason=f"flagged, then not reproduced by A/B re-run {k + 1}")
                else:
                    c = dataclasses.replace(c, reason=f"confirmed by {k + 1} fresh A/B re-run(s)")
            comparisons.append(c)
        report = dataclasses.replace(report, comparisons=tuple(comparisons))
        suspects = [c for c in report.comparisons if c.verdict == REGRESSION]
        if not suspects:
            break
    return report
