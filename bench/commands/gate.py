"""``datarax-bench gate --baseline PATH [RUN]``: exit 1 only on a confirmed regression."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT
from bench.commands.compare import add_criteria_arguments


def register(sub) -> None:
    gate = sub.add_parser(
        "gate", help="fail on a confirmed regression against a baseline",
        description="Compare the target adapters' cells of RUN with a baseline. Exit 0: no confirmed "
                    "regression; 1: a confirmed regression (p below the threshold and a slowdown "
                    "beyond the effect floor) or a target cell that now fails; 2: bad input; "
                    "3: undecided (missing or incomparable baseline, no reference, too few "
                    "repetitions) unless --allow-missing. Writes gate.md and gate.json.",
    )
    gate.add_argument("run", nargs="?", type=Path,
                      help="run folder or results.jsonl (default: the newest run in results/runs)")
    gate.add_argument("--baseline", required=True, type=Path,
                      help="baseline .jsonl, or a folder (results/baselines[/<profile>]) holding one "
                           "per machine class")
    add_criteria_arguments(gate)
    gate.add_argument("--target", action="append", dest="targets",
                      help="adapter to gate (repeatable; default: the profile's gate.targets, datarax)")
    gate.add_argument("--confirm", type=int, dest="confirm_runs", metavar="N",
                      help="fresh re-runs of each suspected regression's cells that must all agree "
                           "(default: the profile's gate.confirm_runs, 2; 0 trusts the run alone)")
    gate.add_argument("--allow-missing", action="store_true",
                      help="report cells without a comparable baseline but do not fail on them")
    gate.add_argument("--markdown", type=Path, help="verdict file for the PR comment (default: RUN/gate.md)")
    gate.set_defaults(handler=_gate)


def newest_run(root: Path = Path("results/runs")) -> Path | None:
    runs = sorted(p for p in root.glob("*/results.jsonl")) if root.is_dir() else []
    return runs[-1].parent if runs else None


def _gate(args: argparse.Namespace, console: Console) -> int:
    """Exit 2 with the message on an internal error: 1 means a confirmed regression only."""
    try:
        return _judge(args, console)
    except Exception as e:  # noqa: BLE001 - any failure of the gate itself is not a verdict
        console.print(f"[red]error inside the gate:[/red] {type(e).__name__}: {e}", markup=True)
        return EXIT_BAD_INPUT


def _judge(args: argparse.Namespace, console: Console) -> int:
    from bench.baseline import resolve_baseline
    from bench.compare import ResultsError, load_results, rich_table
    from bench.gate import confirm, gate_config, render_markdown, run_gate, write_verdict
    from bench.profile import ProfileError

    run_path = args.run or newest_run()
    if run_path is None:
        console.print("[red]error:[/red] no run given and none in results/runs; run `datarax-bench run` first")
        return EXIT_BAD_INPUT
    try:
        run = load_results(run_path)
        config = gate_config(run, mode=args.mode, reference=args.reference, targets=args.targets,
                             p_threshold=args.p_threshold, min_effect=args.min_effect,
                             confirm_runs=args.confirm_runs)
    except (ResultsError, ProfileError, TypeError) as e:
        console.print(f"[red]error:[/red] {e}")
        return EXIT_BAD_INPUT
    try:
        baseline_file, note = resolve_baseline(args.baseline, run, config.mode)
        baseline = load_results(baseline_file)
    except ResultsError as e:  # loud, and an error unless --allow-missing: never a silent pass
        console.print(f"[red bold]no usable baseline:[/red bold] {e}")
        baseline, note = None, str(e)
    report = run_gate(run, baseline, config, allow_missing=args.allow_missing, notes=(note,) if note else ())
    folder = run.path if run.path.is_dir() else run.path.parent
    suspects = sum(c.verdict == "regression" for c in report.comparisons)
    if suspects and config.confirm_runs:
        console.print(f"re-measuring {suspects} suspected regression(s) in {config.confirm_runs} fresh run(s)…")
        report = confirm(report, folder / "confirmations")
    markdown = args.markdown or folder / "gate.md"
    write_verdict(report, markdown, folder / "gate.json")
    against = f"baseline {baseline.label}" if baseline else "no baseline"
    if report.comparisons:
        console.print(rich_table(report.comparisons, config.mode, title=f"gate ({config.mode}): run {run.label} vs {against}"))
    for line in render_markdown(report).splitlines()[1:2] + [f"- {n}" for n in report.notes]:
        console.print(line.removeprefix("## "), markup=False)
    console.print(f"verdict: {markdown} (exit {report.exit_code})")
    return report.exit_code
