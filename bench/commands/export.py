"""``datarax-bench export wandb RUN``: a stored run as one Weights & Biases run."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

EXIT_EXPORT_FAILED = 1


def register(sub) -> None:
    export = sub.add_parser("export", help="export a stored run (to Weights & Biases)",
                            description="Export a run folder. Its results are only read, never changed.")
    targets = export.add_subparsers(dest="target", required=True, metavar="TARGET")
    wb = targets.add_parser(
        "wandb", help="one W&B run per benchmark run (offline unless configured)",
        description="Log config (profile, machine, commit), metrics keyed metric/scenario/variant/adapter, "
                    "a table of every cell, a chart, the results as an artifact and the gate verdict. "
                    "Offline by default (files under RUN/wandb; upload later with `wandb sync`); "
                    "--mode online or WANDB_MODE=online sends it to W&B.",
    )
    wb.add_argument("run", type=Path, help="run folder")
    add_wandb_arguments(wb)
    wb.set_defaults(handler=_export_wandb)


def add_wandb_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wandb-project", default="datarax-bench", help="W&B project (default: datarax-bench)")
    parser.add_argument("--wandb-entity", help="W&B entity (default: your W&B default)")
    parser.add_argument("--wandb-mode", choices=["offline", "online"],
                        help="default: $WANDB_MODE, else offline")


def export_to_wandb(run_dir: Path, args: argparse.Namespace, console: Console) -> bool:
    """Exports and prints what happened; False when nothing was exported."""
    from bench.export import export_wandb

    outcome = export_wandb(run_dir, project=args.wandb_project, entity=args.wandb_entity, mode=args.wandb_mode)
    console.print(("" if outcome.ok else "[yellow]warning:[/yellow] ") + outcome.message, highlight=False)
    return outcome.ok


def _export_wandb(args: argparse.Namespace, console: Console) -> int:
    return 0 if export_to_wandb(args.run, args, console) else EXIT_EXPORT_FAILED
