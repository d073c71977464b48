"""``datarax-bench probe``: the machine facts every result is recorded with."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table


def register(sub) -> None:
    probe = sub.add_parser(
        "probe", help="print the machine's facts (CPU, cores, RAM, OS, devices, library versions)",
        description="Print what the harness knows about this machine, read from the system.",
    )
    probe.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    probe.set_defaults(handler=_probe)


def _fmt(key: str, value) -> str:
    if value is None:
        return "—"
    if key.endswith("_bytes") and isinstance(value, int):
        return f"{value / 2**30:,.1f} GiB"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v or 'not installed'}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _probe(args: argparse.Namespace, console: Console) -> int:
    from bench.probe import probe

    facts = probe()
    if args.json:
        console.out(json.dumps(facts, indent=1), highlight=False)
        return 0
    table = Table(title="machine", show_header=False)
    table.add_column("fact", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in facts.items():
        table.add_row(key, _fmt(key, value))
    console.print(table)
    return 0
