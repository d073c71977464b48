"""``datarax-bench baseline update --from RUN`` and ``baseline list``: committed baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT


def register(sub) -> None:
    base = sub.add_parser("baseline", help="record or list committed baselines",
                          description="Baselines live in results/baselines/<profile>/<machine-class>.jsonl "
                                      "and change only through `baseline update`.")
    actions = base.add_subparsers(dest="action", required=True, metavar="ACTION")
    update = actions.add_parser("update", help="make a run the baseline of its profile and machine class")
    update.add_argument("--from", dest="source", required=True, type=Path, help="run folder to record")
    update.add_argument("--root", type=Path, help="baselines folder (default: results/baselines)")
    update.add_argument("--allow-dirty", action="store_true",
                        help="accept a run whose commit is unknown or has uncommitted changes")
    update.set_defaults(handler=_update)
    lst = actions.add_parser("list", help="list baselines with the run and commit they came from")
    lst.add_argument("--root", type=Path, help="baselines folder (default: results/baselines)")
    lst.set_defaults(handler=_list)


def _root(args: argparse.Namespace) -> Path:
    from bench.baseline import BASELINES_ROOT

    return args.root or BASELINES_ROOT


def _update(args: argparse.Namespace, console: Console) -> int:
    from bench.baseline import update_baseline
    from bench.compare import ResultsError, load_results

    try:
        run = load_results(args.source)
        path = update_baseline(run, _root(args), allow_dirty=args.allow_dirty)
    except ResultsError as e:
        console.print(f"[red]error:[/red] {e}")
        return EXIT_BAD_INPUT
    ok = sum(r["status"] == "ok" for r in run.records.values())
    console.print(f"baseline {path}: {len(run.records)} cells ({ok} ok) from run {run.label} at commit {run.commit}")
    return 0


def _list(args: argparse.Namespace, console: Console) -> int:
    from bench.baseline import list_baselines

    found = list_baselines(_root(args))
    if not found:
        console.print(f"no baselines in {_root(args)}")
    for path, meta in found:
        console.print(f"{path.parent.name}/{path.name}  run {meta.get('source_run', '?')}  "
                      f"commit {meta.get('git_commit', '?')}  updated {meta.get('updated_at', '?')}")
    return 0
