"""``datarax-bench run``: run a profile's cells (or resume a stopped run) and print a table."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from bench.commands.export import add_wandb_arguments, export_to_wandb

RERUN = ("failed", "timeout")  # what --rerun-failed runs again
_OVERRIDES = ("repetitions", "batches", "min_window_s", "warmup_batches", "timeout_s", "memory_limit_mb",
              "consumer_step_ms", "replicates")


def register(sub) -> None:
    run = sub.add_parser(
        "run",
        help="run a profile's cells and print a results table",
        description=(
            "Run every cell of a profile, each in a fresh subprocess, appending one record per "
            "cell to <output>/<run-id>/results.jsonl as it ends; --resume finishes a stopped run."
        ),
    )
    run.add_argument(
        "--profile",
        help="shipped profile name (see `datarax-bench list profiles`) or a path to a .toml file",
    )
    run.add_argument("--scenarios", help="comma-separated scenario ids to keep, e.g. CV-1,NLP-1")
    run.add_argument(
        "--adapters",
        help="comma-separated adapter names (or package.module:Class paths) to run instead of the profile's",
    )
    run.add_argument(
        "--adapter-module", action="append", default=[], metavar="MODULE:CLASS",
        help="run one more adapter, loaded from any importable module (repeatable)",
    )
    run.add_argument("--repetitions", type=int, help="timed repetitions per cell (overrides the profile)")
    run.add_argument("--replicates", type=int,
                     help="independent processes per cell, run in separate passes over the matrix; the "
                          "regression gate's samples (overrides the profile)")
    run.add_argument("--batches", type=int, help="timed batches per repetition, at least (overrides the profile)")
    run.add_argument("--min-window-s", type=float, dest="min_window_s", metavar="S",
                     help="each repetition goes on until it has lasted S seconds; 0 for exactly --batches "
                          "(overrides the profile)")
    run.add_argument("--warmup", type=int, dest="warmup_batches", help="untimed warm-up batches (overrides the profile)")
    run.add_argument("--timeout", type=float, dest="timeout_s", help="seconds before a cell is killed (overrides the profile)")
    run.add_argument(
        "--memory-limit-mb", type=int, dest="memory_limit_mb",
        help="kill a cell whose process tree's RSS passes this many MiB (overrides the profile)",
    )
    run.add_argument(
        "--consumer-step-ms", type=float, dest="consumer_step_ms", metavar="MS",
        help="also run each cell against a simulated training step of MS milliseconds (a calibrated "
             "jitted matmul chain) and record its stall fraction and steps/s (overrides the profile)",
    )
    run.add_argument(
        "--profile-trace", metavar="CELL",
        help="run one cell (scenario/variant/adapter) once more under jax.profiler and py-spy "
             "(when installed); the traces land in <run>/traces/",
    )
    run.add_argument(
        "--output", type=Path, default=Path("results/runs"),
        help="folder that receives the run folder (default: results/runs)",
    )
    run.add_argument(
        "--resume", metavar="RUN",
        help="finish a stopped run (a run id under --output, or its folder): its unfinished cells "
        "run with its stored profile and are appended to its results",
    )
    run.add_argument(
        "--rerun-failed", action="store_true",
        help="with --resume: also run again the cells that failed or timed out (their records move "
             "to results.replaced.jsonl)",
    )
    run.add_argument("--wandb", action="store_true",
                     help="export the finished run to Weights & Biases (offline unless configured; "
                          "never changes the exit code)")
    add_wandb_arguments(run)
    run.set_defaults(handler=_run)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _select(args: argparse.Namespace):
    """The profile the arguments describe; raises ProfileError/KeyError on bad input."""
    from bench.profile import ProfileError, load_profile
    from bench.runner import plan

    profile = load_profile(args.profile)
    overrides = {k: getattr(args, k) for k in _OVERRIDES}
    adapters = _split(args.adapters) if args.adapters else list(profile.adapters)
    if args.adapter_module:
        if os.getcwd() not in sys.path:  # as `python -m` would: modules next to the user resolve
            sys.path.insert(0, os.getcwd())
        bad = [m for m in args.adapter_module if ":" not in m]
        if bad:
            raise ProfileError(f"--adapter-module {bad[0]!r} is not a 'package.module:Class' path")
        adapters += [m for m in args.adapter_module if m not in adapters]
    overrides["adapters"] = tuple(adapters)
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
    cells = [c.cell_id for c in plan(profile)]
    if args.profile_trace and args.profile_trace not in cells:
        raise ProfileError(f"--profile-trace {args.profile_trace!r} is not a cell of this run; valid: {', '.join(cells)}")
    return profile


def _resume_conflicts(args: argparse.Namespace) -> list[str]:
    given = [f"--{k.replace('_', '-')}" for k in ("scenarios", "adapters", *_OVERRIDES) if getattr(args, k)]
    return given + (["--adapter-module"] if args.adapter_module else []) + (["--profile-trace"] if args.profile_trace else [])


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """A terminated run (CI cancel, `kill`) stops like Ctrl-C: finished cells kept, cell killed."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace, console: Console) -> int:
    from bench.profile import ProfileError
    from bench.progress import progress_for
    from bench.runner import RunInUse, resume_run, run_profile
    from bench.store import RESULTS, find_run, load_records
    from bench.table import results_table

    def bad(message: str) -> int:
        console.print(f"[red]error:[/red] {message}", highlight=False)
        return EXIT_BAD_INPUT

    try:
        if args.resume:
            run_dir = find_run(args.resume, args.output)
            conflicts = _resume_conflicts(args)
            if conflicts:
                return bad(f"--resume runs the stored profile; drop {', '.join(conflicts)}")
            stored = _stored_profile_name(run_dir)
            if args.profile and args.profile != stored:
                return bad(f"run {run_dir.name} was made with profile {stored!r}, not {args.profile!r}")
            if not args.rerun_failed:
                _failed_hint(console, run_dir, args, listing=True)
            rerun = RERUN if args.rerun_failed else ()
            start = lambda progress: resume_run(run_dir, progress=progress, rerun=rerun)  # noqa: E731
        elif args.rerun_failed:
            return bad("--rerun-failed goes with --resume RUN")
        elif not args.profile:
            return bad("give --profile (see `datarax-bench list profiles`) or --resume RUN")
        else:
            profile = _select(args)
            start = lambda progress: run_profile(  # noqa: E731
                profile, args.output, progress=progress, trace_cell=args.profile_trace)
    except (ProfileError, KeyError, FileNotFoundError) as e:
        return bad(str(e.args[0]) if e.args else str(e))

    progress = progress_for(console)
    try:
        with _sigterm_as_interrupt(), progress:
            run_dir = start(progress)
    except (RunInUse, ProfileError) as e:  # a stored run whose profile no longer validates
        return bad(str(e))
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted:[/yellow] finished cells are kept; continue with "
            f"`datarax-bench run --resume {progress.run_dir.name if progress.run_dir else args.resume} "
            f"--output {args.output}`"
        )
        return EXIT_INTERRUPTED
    records, problems = load_records(run_dir / RESULTS)
    for problem in problems:
        console.print(f"[yellow]warning:[/yellow] {problem}", highlight=False)
    console.print(results_table(records, title=f"run {run_dir.name}"))
    console.print(f"results: {run_dir / RESULTS}", highlight=False)
    _failed_hint(console, run_dir, args, records=records)
    if args.wandb:
        export_to_wandb(run_dir, args, console)
    return 0


def _failed_hint(console: Console, run_dir: Path, args: argparse.Namespace, *, records=None,
                 listing: bool = False) -> None:
    """Names the run's failed and timed-out cells (``listing``) and how to run them again."""
    from bench.store import RESULTS, load_records

    if records is None:
        records = load_records(run_dir / RESULTS)[0] if (run_dir / RESULTS).is_file() else []
    failed = [r for r in records if r["status"] in RERUN]
    if not failed:
        return
    if listing:
        for r in failed:
            console.print(f"  {r['status']:<8} {r['cell_id']}: {(r.get('reason') or '')[:120]}", highlight=False,
                          markup=False)
    console.print(
        f"{len(failed)} cell(s) of run {run_dir.name} failed or timed out; run them again with "
        f"`datarax-bench run --resume {run_dir.name} --output {args.output} --rerun-failed`", highlight=False)


def _stored_profile_name(run_dir: Path) -> str:
    """The name of the profile a run was made with (from its run.json)."""
    import json

    from bench.store import RUN_INFO

    info = run_dir / RUN_INFO
    if not info.is_file():
        raise FileNotFoundError(f"{run_dir} has no {RUN_INFO}: it cannot be resumed")
    return json.loads(info.read_text())["profile"]["name"]
