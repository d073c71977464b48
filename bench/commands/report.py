"""``datarax-bench report``: write a run's HTML page and Markdown summary into its folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT


def register(sub) -> None:
    cmd = sub.add_parser(
        "report",
        help="write an HTML report (charts embedded) and a Markdown summary of a run",
        description=(
            "Write report.html (self-contained: opens offline), report.md and charts/*.png into the "
            "run folder: scoreboard with bootstrap CIs, throughput bars, latency CDFs, peak RSS vs "
            "throughput, scaling curves and roofline when the run has their data, failures with "
            "reasons, machine facts, and with --compare the per-cell ratio against a baseline."
        ),
    )
    cmd.add_argument("run", metavar="RUN", help="run id (under --runs-dir), run folder, or results .jsonl file")
    cmd.add_argument(
        "--compare", metavar="BASELINE",
        help="baseline to compare against: run id, run folder, or .jsonl (e.g. results/baselines/...)",
    )
    cmd.add_argument("--runs-dir", type=Path, default=Path("results/runs"), help="where run ids are looked up (default: results/runs)")
    cmd.add_argument("--output", type=Path, help="folder to write into (default: the run folder)")
    cmd.add_argument(
        "--readme", type=Path, metavar="FILE",
        help="also replace FILE's results section (between <!-- results:start --> and "
             "<!-- results:end -->) with this run's table, e.g. --readme README.md",
    )
    cmd.add_argument(
        "--results-page", type=Path, metavar="FILE",
        help="also write the published results page FILE (e.g. docs/results.md) from this run, its "
             "charts into the folder beside it (docs/results/*.png)",
    )
    cmd.set_defaults(handler=_report)


def _report(args: argparse.Namespace, console: Console) -> int:
    from bench.report import RunNotFound, build_report, load_run, write_report

    try:
        run = load_run(args.run, args.runs_dir)
        baseline = load_run(args.compare, args.runs_dir) if args.compare else None
    except RunNotFound as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True)
        return EXIT_BAD_INPUT
    for problem in run.problems:
        console.print(f"[yellow]warning:[/yellow] {problem}", soft_wrap=True)
    if not run.records:
        console.print(f"[red]error:[/red] {run.folder} holds no readable result records", soft_wrap=True)
        return EXIT_BAD_INPUT
    if args.readme is not None:
        code = _write_readme(run, args.readme, console)
        if code:
            return code
    if args.results_page is not None:
        from bench.report.results_page import write_results_page

        page = write_results_page(run, args.results_page)
        console.print(f"results page: {page.page} ({len(page.charts)} charts in {page.page.with_suffix('')})", soft_wrap=True)
    report = build_report(run, baseline)
    written = write_report(report, args.output)
    for absent in report.absent:
        console.print(f"not drawn: {absent.title}: {absent.reason}", soft_wrap=True)
    console.print(f"html: {written.html}", soft_wrap=True)
    console.print(f"markdown: {written.markdown}", soft_wrap=True)
    return 0


def _write_readme(run, path: Path, console: Console) -> int:
    from bench.report.readme import MarkersMissing, replace_section, results_section
    from bench.store import write_text_atomic

    profile = run.profile_name or "unknown"
    try:
        text = replace_section(path.read_text(), results_section(run, f"datarax-bench run --profile {profile}"))
    except (OSError, MarkersMissing) as e:
        console.print(f"[red]error:[/red] {path}: {e}", soft_wrap=True)
        return EXIT_BAD_INPUT
    write_text_atomic(path, text)
    console.print(f"results section: {path}", soft_wrap=True)
    return 0
