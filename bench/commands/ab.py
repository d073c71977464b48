"""``datarax-bench ab --base REF``: the base commit and this checkout, interleaved, gated."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT


def register(sub) -> None:
    ab = sub.add_parser(
        "ab", help="gate this checkout against a base commit, interleaved on this machine",
        description="Check out REF in a git worktree, run the gated cells of its profile with the "
                    "base's code and with this checkout's, process by process in alternation "
                    "(gate.replicates processes per side), and judge head against base. The "
                    "profile, thresholds and gated cells come from the base commit. Exit codes as "
                    "`gate`: 0 pass, 1 confirmed regression, 2 bad input or an error, 3 undecided.",
    )
    ab.add_argument("--base", required=True, metavar="REF", help="the base commit (e.g. origin/main)")
    ab.add_argument("--profile", default="ci_cpu", help="profile name, read from the base commit (default: ci_cpu)")
    ab.add_argument("--output", type=Path, default=Path("results/ab"), help="folder for the worktree and the runs")
    ab.add_argument("--markdown", type=Path, help="verdict file for the PR comment (default: OUTPUT/gate.md)")
    ab.set_defaults(handler=_ab)


def _ab(args: argparse.Namespace, console: Console) -> int:
    from bench.ab import ABError, base_profile, checkout_base, gate_ab
    from bench.compare import rich_table
    from bench.gate import render_markdown, write_verdict
    from bench.profile import ProfileError

    try:
        base_root = checkout_base(args.base, (args.output / "base-src").resolve())
        profile = base_profile(base_root, args.profile)
    except (ABError, ProfileError) as e:
        console.print(f"[red]error:[/red] {e}")
        return EXIT_BAD_INPUT
    try:
        report = gate_ab(profile, base_root, args.output)
    except Exception as e:  # noqa: BLE001 - an error of the harness is not a verdict
        console.print(f"[red]error inside the A/B gate:[/red] {type(e).__name__}: {e}")
        return EXIT_BAD_INPUT
    markdown = args.markdown or args.output / "gate.md"
    write_verdict(report, markdown, args.output / "gate.json")
    if report.comparisons:
        console.print(rich_table(report.comparisons, "absolute", title=f"A/B gate: head vs base {args.base}"))
    for line in render_markdown(report).splitlines()[1:2] + [f"- {n}" for n in report.notes]:
        console.print(line.removeprefix("## "), markup=False)
    console.print(f"verdict: {markdown} (exit {report.exit_code})")
    return report.exit_code
