"""``datarax-bench list``: what the harness knows."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT

MATRIX_PAGE = Path("docs/loaders.md")
MATRIX_START, MATRIX_END = "<!-- support-matrix:start -->", "<!-- support-matrix:end -->"


def register(sub) -> None:
    lst = sub.add_parser("list", help="list scenarios, adapters or profiles", description="List what the harness knows.")
    lst.add_argument(
        "what", choices=["scenarios", "adapters", "profiles", "matrix"],
        help="what to list; matrix: which adapter does which scenario's work, or why not",
    )
    lst.add_argument("--markdown", action="store_true", help="matrix: print it as a Markdown table")
    lst.add_argument("--write", type=Path, metavar="FILE",
                     help=f"matrix: replace the table between FILE's {MATRIX_START} and {MATRIX_END} "
                          f"markers with it (the published copy: {MATRIX_PAGE})")
    lst.set_defaults(handler=_list)


def _list(args: argparse.Namespace, console: Console) -> int:
    if args.what == "profiles":
        from bench.profile import load_profile, shipped_profiles

        names = shipped_profiles()
        width = max(map(len, names)) + 1
        for name in names:
            profile = load_profile(name)
            console.print(f"{name:<{width}} {profile.backend:<4} {profile.description}\n{'':<{width}} adapters: "
                          f"{', '.join(profile.adapters)}", highlight=False)
    elif args.what == "matrix":
        text = support_matrix()
        if args.write is not None:
            return _write_matrix(args.write, text, console)
        if args.markdown:
            print(text)
        else:
            console.print(text, highlight=False, markup=False)
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


def replace_matrix(page: str, matrix: str) -> str:
    """``page`` with the text between the support-matrix markers replaced by ``matrix``."""
    start, end = page.find(MATRIX_START), page.find(MATRIX_END)
    if start < 0 or end < start:
        raise ValueError(f"no {MATRIX_START} … {MATRIX_END} markers")
    return f"{page[:start + len(MATRIX_START)]}\n{matrix.strip()}\n{page[end:]}"


def _write_matrix(path: Path, matrix: str, console: Console) -> int:
    try:
        path.write_text(replace_matrix(path.read_text(), matrix))
    except (OSError, ValueError) as e:
        console.print(f"[red]error:[/red] {path}: {e}", highlight=False)
        return EXIT_BAD_INPUT
    console.print(f"wrote the support matrix into {path}", highlight=False)
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


def support_matrix() -> str:
    """Rows: scenarios; columns: adapters; cells: "yes" or "no" with a footnote giving the reason.

    Read from each adapter's ``available()`` and ``supports()``, so it stays true. A scenario
    whose variants differ in support (IO-1's backends) gets one row per group of variants.
    """
    from adapters import adapter_names, load_adapter
    from adapters.registry import BUILTIN
    from scenarios import SCENARIOS

    names = [*BUILTIN, *(n for n in adapter_names() if n not in BUILTIN)]  # built-ins in the order
    adapters = {n: load_adapter(n) for n in names}
    unavailable = {n: a.available() for n, a in adapters.items()}
    notes: dict[str, int] = {}

    def cell(name: str, reason: str | None) -> str:
        reason = unavailable[name] or reason
        if reason is None:
            return "yes"
        return f"no[^{notes.setdefault(' '.join(reason.split()), len(notes) + 1)}]"

    lines = [f"| scenario | {' | '.join(names)} |", f"|---|{'---|' * len(names)}"]
    for scenario in SCENARIOS.values():
        groups: dict[tuple, list[str]] = {}
        for variant in scenario.variants.values():
            row = tuple(cell(n, adapters[n].supports(scenario, variant)) for n in names)
            groups.setdefault(row, []).append(variant.name)
        for row, variants in groups.items():
            label = scenario.id if len(groups) == 1 else f"{scenario.id} ({', '.join(variants)})"
            lines.append(f"| {label} | {' | '.join(row)} |")
    lines.append("")
    lines += [f"[^{number}]: {reason}" for reason, number in notes.items()]
    return "\n".join(lines)
