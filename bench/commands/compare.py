"""``datarax-bench compare A B``: every cell of two runs, with a statistical verdict."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT


def add_criteria_arguments(parser: argparse.ArgumentParser) -> None:
    """The options compare and gate share; unset ones come from the profile's [gate] table."""
    parser.add_argument("--mode", choices=["absolute", "relative"],
                        help="absolute: raw elements/s (same machine only); relative: each cell "
                             "divided by the reference adapter of the same run")
    parser.add_argument("--reference", help="reference adapter for relative mode (default: numpy)")
    parser.add_argument("--p-threshold", type=float, help="Mann-Whitney p below which a change is significant (default: 0.002)")
    parser.add_argument("--min-effect", type=float,
                        help="smallest change of time per element that counts, as a fraction (default: 0.10)")


def register(sub) -> None:
    cmp = sub.add_parser(
        "compare", help="compare two runs cell by cell",
        description="Compare run B against run A (run folders, results.jsonl or baseline files): "
                    "ratio of medians with a bootstrap 95% CI, Mann-Whitney U on per-repetition "
                    "elements/s, and a verdict per cell.",
    )
    cmp.add_argument("a", type=Path, help="the earlier run or baseline (A)")
    cmp.add_argument("b", type=Path, help="the later run (B)")
    add_criteria_arguments(cmp)
    cmp.add_argument("--markdown", type=Path, help="also write the comparison as Markdown to this file")
    cmp.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace, console: Console) -> int:
    from bench.store import write_text_atomic
    from bench.compare import ResultsError, compare, load_results, markdown_table, rich_table
    from bench.gate import gate_config
    from bench.profile import ProfileError

    try:
        a, b = load_results(args.a), load_results(args.b)
        config = gate_config(b, mode=args.mode or "absolute", reference=args.reference,
                             p_threshold=args.p_threshold, min_effect=args.min_effect)
    except (ResultsError, ProfileError, TypeError) as e:
        console.print(f"[red]error:[/red] {e}")
        return EXIT_BAD_INPUT
    comparisons = compare(a, b, config)
    for problem in a.problems + b.problems:
        console.print(f"[yellow]warning:[/yellow] {problem}")
    title = f"B {b.label} vs A {a.label} ({config.mode}" + (
        f", ÷ {config.reference})" if config.mode == "relative" else ")")
    console.print(rich_table(comparisons, config.mode, title=title))
    if args.markdown:
        write_text_atomic(args.markdown, f"### {title}\n\n{markdown_table(comparisons, config.mode)}\n")
        console.print(f"markdown: {args.markdown}")
    return 0
