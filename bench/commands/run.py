"""``datarax-bench run``: run a profile's cells and print a results table."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED


def register(sub) -> None:
    run = sub.add_parser(
        "run",
        help="run a profile's cells and print a results table",
        description="Run every cell of a profile, each in a fresh subprocess, and print a table.",
    )
    run.add_argument(
        "--profile", required=True,
        help="shipped profile name (see `datarax-bench list profiles`) or a path to a .toml file",
    )
    run.add_argument("--scenarios", help="comma-separated scenario ids to keep, e.g. CV-1,NLP-1")
    run.add_argument(
        "--adapters",
        help="comma-separated adapter names (or package.module:Class paths) to run instead of the profile's",
    )
    run.add_argument("--repetitions", type=int, help="timed repetitions per cell (overrides the profile)")
    run.add_argument("--batches", type=int, help="timed batches per repetition (overrides the profile)")
    run.add_argument("--warmup", type=int, dest="warmup_batches", help="untimed warm-up batches (overrides the profile)")
    run.add_argument("--timeout", type=float, dest="timeout_s", help="seconds before a cell is killed (overrides the profile)")
    run.add_argument(
        "--output", type=Path, default=Path("results/runs"),
        help="folder that receives the run folder (default: results/runs)",
    )
    run.set_defaults(handler=_run)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _run(args: argparse.Namespace, console: Console) -> int:
    from bench.profile import ProfileError, load_profile
    from bench.runner import plan, run_profile
    from bench.store import load_records
    from bench.table import results_table

    try:
        profile = load_profile(args.profile)
        overrides = {k: getattr(args, k) for k in ("repetitions", "batches", "warmup_batches", "timeout_s")}
        if args.adapters:
            overrides["adapters"] = tuple(_split(args.adapters))
        if args.scenarios:
            wanted = _split(args.scenarios)
            available = [c.scenario for c in profile.cells]
            unknown = [s for s in wanted if s not in available]
            if unknown:
                raise ProfileError(
                    f"scenario(s) {unknown} are not in profile {profile.name!r}; valid: {', '.join(available)}"
                )
            overrides["cells"] = tuple(c for c in profile.cells if c.scenario in wanted)
        profile = profile.with_overrides(**overrides)
        cells = plan(profile)
    except (ProfileError, KeyError) as e:
        console.print(f"[red]error:[/red] {e.args[0] if e.args else e}")
        return EXIT_BAD_INPUT

    console.print(f"profile [bold]{profile.name}[/bold]: {len(cells)} cells")

    def report(cell, record):
        m = record.get("metrics") or {}
        detail = f"{m['elements_per_s']:,.0f} elements/s" if record["status"] == "ok" else record.get("reason")
        console.print(f"  {cell.cell_id:<32} {record['status']:<14} {detail}  ({record['wall_s']:.1f} s)")

    try:
        run_dir = run_profile(profile, args.output, on_cell_done=report)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: finished cells are kept in the run folder[/yellow]")
        return EXIT_INTERRUPTED
    records, _ = load_records(run_dir / "results.jsonl")
    console.print(results_table(records, title=f"run {run_dir.name}"))
    console.print(f"results: {run_dir / 'results.jsonl'}")
    return 0
