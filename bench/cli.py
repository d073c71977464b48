"""``datarax-bench``: run the benchmark matrix and inspect what it stored."""

from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console

from bench.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datarax-bench",
        description=(
            "Benchmark datarax against peer data loaders. Every (scenario, variant, adapter) "
            "cell runs in its own process; results are appended to "
            "<output>/<run-id>/results.jsonl as each cell ends."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"bench.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    return args.handler(args, console)


if __name__ == "__main__":
    sys.exit(main())
