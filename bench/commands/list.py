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
            capabilities = ", ".join(sorted(s.capabilities)) or "-"
            console.print(
                f"{s.id:<7} {s.category:<10} {s.name:<28} variants: {', '.join(s.variants)}; "
                f"capabilities: {capabilities}", highlight=False,
            )
    else:
        from adapters import adapter_origins

        for name, (target, origin) in sorted(adapter_origins().items()):
            console.print(f"{name:<16} {_availability(name):<60} {origin}: {target}", highlight=False)
    return 0


def _availability(name: str) -> str:
    """'available', or 'unavailable: why' (a loader whose adapter cannot even load included)."""
    from adapters import AdapterNotFound, load_adapter

    try:
        reason = load_adapter(name).available()
    except AdapterNotFound as e:
        reason = str(e)
    except Exception as e:  # noqa: BLE001 - a broken plugin is listed, not fatal
        reason = f"the adapter fails to start ({type(e).__name__}: {e})"
    return "available" if reason is None else f"unavailable: {reason}"
