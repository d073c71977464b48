"""``datarax-bench list``: what the harness knows."""

from __future__ import annotations

import argparse

from rich.console import Console


def register(sub) -> None:
    lst = sub.add_parser("list", help="list scenarios, adapters or profiles", description="List what the harness knows.")
    lst.add_argument("what", choices=["scenarios", "adapters", "profiles"], help="what to list")
    lst.set_defaults(handler=_list)


def _list(args: argparse.Namespace, console: Console) -> int:
    if args.what == "profiles":
        from bench.profile import load_profile, shipped_profiles

        for name in shipped_profiles():
            console.print(f"{name:<12} {load_profile(name).description}")
    elif args.what == "scenarios":
        from scenarios import SCENARIOS

        for s in SCENARIOS.values():
            console.print(f"{s.id:<7} {s.category:<10} {s.name:<28} variants: {', '.join(s.variants)}")
    else:
        from adapters import adapter_names, load_adapter

        for name in adapter_names():
            reason = load_adapter(name).available()
            console.print(f"{name:<16} {'available' if reason is None else f'unavailable: {reason}'}")
    return 0
