"""The regression gate calibrated on the machine it runs on: false alarms, power, effect floor.

``python -m bench.calibrate --cells PC-1/small/datarax`` runs, for each cell, rounds of
one-process runs of unchanged code (U) and of code slowed by each injected fraction
(``DATARAX_BENCH_SLOWDOWN``, :mod:`adapters._inject`: a busy-wait in the loader's own gather),
the conditions' order rotated each round so drift hits them alike. Trials are disjoint groups
of ``replicates`` processes, judged exactly as the gate judges a cell (absolute mode: the
conditions alternate on one machine): A/A pairs two U groups, a slowdown trial a U group
with a slowed one. Each rate comes with its count of trials and a 95 % Clopper-Pearson
interval; each injection's effective slowdown (median U over median slowed, all processes)
is measured, not assumed. The gate's confirmation re-runs are not modelled: they can only
lower both rates, so the false-alarm figure is an upper bound for the two-stage gate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from adapters._inject import SLOWDOWN_ENV
from bench.compare import REGRESSION, judge
from bench.profile import CellSelection, GateConfig, load_profile
from bench.runner import run_profile
from bench.store import load_records, write_json_atomic, write_text_atomic

UNCHANGED = 0.0


def clopper_pearson(hits: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval of a binomial rate."""
    alpha = 1 - level
    low = 0.0 if hits == 0 else float(stats.beta.ppf(alpha / 2, hits, trials - hits + 1))
    high = 1.0 if hits == trials else float(stats.beta.ppf(1 - alpha / 2, hits + 1, trials - hits))
    return low, high


def one_process(profile, cell: str, fraction: float, output: Path) -> float | None:
    """One fresh process of ``cell`` with ``fraction`` injected: its sustained elements/s, or
    None when it did not end ok (the calibration then reports it)."""
    scenario, variant, adapter = cell.split("/")
    profile = profile.with_overrides(adapters=(adapter,), cells=(CellSelection(scenario, (variant,)),), replicates=1)
    os.environ[SLOWDOWN_ENV] = repr(fraction) if fraction else ""
    try:
        run_dir = run_profile(profile, output)
    finally:
        os.environ.pop(SLOWDOWN_ENV, None)
    (record,), _ = load_records(run_dir / "results.jsonl")
    return record["metrics"]["elements_per_s"] if record["status"] == "ok" else None


def collect(profile, cell: str, fractions: list[float], rounds: int, output: Path) -> dict[float, list[float]]:
    """``rounds`` rounds of two U processes and one per fraction, order rotated per round."""
    conditions = [UNCHANGED, UNCHANGED, *fractions]
    samples: dict[float, list[float]] = {c: [] for c in conditions}
    for i in range(rounds):
        shift = i % len(conditions)
        for condition in conditions[shift:] + conditions[:shift]:
            rate = one_process(profile, cell, condition, output)
            if rate is None:
                raise RuntimeError(f"{cell} with {SLOWDOWN_ENV}={condition} did not end ok (see {output})")
            samples[condition].append(rate)
        print(f"{cell}: round {i + 1}/{rounds}", file=sys.stderr, flush=True)
    return samples


def trials(cell: str, samples: dict[float, list[float]], k: int, config: GateConfig) -> dict[str, Any]:
    """Every condition's trials judged like the gate's cell; rates with their bounds."""
    key = tuple(cell.split("/"))
    unchanged = np.asarray(samples[UNCHANGED])
    groups = [unchanged[i:i + k] for i in range(0, len(unchanged) - k + 1, k)]
    result: dict[str, Any] = {"cell": cell, "replicates": k, "processes": {str(c): v for c, v in samples.items()}}
    aa = [judge(key, groups[i], groups[i + 1], config).verdict == REGRESSION for i in range(0, len(groups) - 1, 2)]
    result["a_a"] = _rate(aa)
    for fraction, rates in samples.items():
        if fraction == UNCHANGED:
            continue
        slowed = np.asarray(rates)
        flagged = [judge(key, groups[i], slowed[i * k:(i + 1) * k], config).verdict == REGRESSION
                   for i in range(min(len(groups), len(slowed) // k))]
        result[f"injected {fraction:g}"] = {
            **_rate(flagged), "effective_slowdown": float(np.median(unchanged) / np.median(slowed) - 1)}
    return result


def _rate(flags: list[bool]) -> dict[str, Any]:
    hits, n = int(sum(flags)), len(flags)
    low, high = clopper_pearson(hits, n) if n else (0.0, 1.0)
    return {"flagged": hits, "trials": n, "rate": hits / n if n else None, "ci95": [low, high]}


def render(results: list[dict[str, Any]], config: GateConfig, machine: str, command: str) -> str:
    lines = [
        "# Regression gate calibration",
        "",
        f"Measured by `{command}` on {machine}. Each trial is one gated cell judged as the gate "
        f"judges it: {results[0]['replicates']} processes per side, Mann-Whitney p < {config.p_threshold:g} "
        f"and time per element up by more than {config.min_effect:.0%}; single stage (the gate's "
        "confirmation re-runs can only lower both rates). 95 % Clopper-Pearson intervals.",
        "",
        "| cell | condition | effective slowdown | flagged | trials | rate [95 % CI] |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, rate in [("unchanged (A/A)", r["a_a"])] + [
                (k, v) for k, v in r.items() if k.startswith("injected")]:
            effect = f"{rate['effective_slowdown']:+.1%}" if "effective_slowdown" in rate else "—"
            ci = rate["ci95"]
            shown = "—" if rate["rate"] is None else f"{rate['rate']:.0%} [{ci[0]:.0%}, {ci[1]:.0%}]"
            lines.append(f"| {r['cell']} | {name} | {effect} | {rate['flagged']} | {rate['trials']} | {shown} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci_cpu")
    parser.add_argument("--cells", required=True, help="comma-separated scenario/variant/adapter cells")
    parser.add_argument("--replicates", type=int, default=5, help="processes per side of a trial")
    parser.add_argument("--trials", type=int, default=8, help="A/A trials per cell (>= 8)")
    parser.add_argument("--slowdowns", default="0.25,0.03", help="injected fractions")
    parser.add_argument("--p-threshold", type=float, help="override the profile's gate.p_threshold")
    parser.add_argument("--output", type=Path, default=Path("results/calibration"))
    parser.add_argument("--markdown", type=Path, help="also write the table here (e.g. docs/gate-calibration.md)")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.replicates < 2:
        parser.error(f"--trials must be >= 1 and --replicates >= 2, got {args.trials} and {args.replicates}")
    profile = load_profile(args.profile)
    config = dataclasses.replace(profile.gate, mode="absolute", **(
        {"p_threshold": args.p_threshold} if args.p_threshold else {}))
    fractions = [float(f) for f in args.slowdowns.split(",") if f]
    rounds = args.trials * args.replicates  # two U processes a round: 2 groups per A/A trial
    results = []
    for cell in args.cells.split(","):
        samples = collect(profile, cell, fractions, rounds, args.output / "runs")
        results.append(trials(cell, samples, args.replicates, config))
        write_json_atomic(args.output / "calibration.json", {"config": dataclasses.asdict(config), "cells": results})
    from bench.machine import machine_info

    info = machine_info()
    machine = f"{info['cpu_model']}, {info['cores']} cores"
    text = render(results, config, machine, "python -m bench.calibrate " + " ".join(argv or sys.argv[1:]))
    print(text)
    if args.markdown:
        write_text_atomic(args.markdown, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
