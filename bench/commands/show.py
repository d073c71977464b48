"""``datarax-bench show RUN``: the table of a stored run, with what it ran on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from bench.commands.common import EXIT_BAD_INPUT


def register(sub) -> None:
    show = sub.add_parser(
        "show", help="print the results table of a stored run",
        description="Print a stored run's results table, its profile and machine, and any bad lines.",
    )
    show.add_argument("run", metavar="RUN", help="a run id under --output, a run folder, or its results.jsonl")
    show.add_argument(
        "--output", type=Path, default=Path("results/runs"),
        help="folder holding run folders, where a run id is looked up (default: results/runs)",
    )
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace, console: Console) -> int:
    from bench.store import LEGACY_DELIVERY, RESULTS, RUN_INFO, find_run, load_records
    from bench.table import results_table

    try:
        run_dir = find_run(args.run, args.output)
    except FileNotFoundError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return EXIT_BAD_INPUT
    info = json.loads((run_dir / RUN_INFO).read_text()) if (run_dir / RUN_INFO).is_file() else {}
    records, problems = load_records(run_dir / RESULTS) if (run_dir / RESULTS).is_file() else ([], [])
    if info:
        machine, profile = info["machine"], info["profile"]
        console.print(
            f"run [bold]{info['run_id']}[/bold], profile {profile['name']} ({profile['repetitions']} × "
            f"{profile['batches']} batches, {profile['cpu_budget']} CPUs, delivery "
            f"{profile.get('delivery', LEGACY_DELIVERY)}), started {info['started_at']}",
            highlight=False,
        )
        console.print(
            f"machine {machine['fingerprint']}: {machine['cpu_model']}, {machine['cores']} cores, "
            f"{machine['ram_bytes'] / 2**30:.0f} GiB, {machine['os']}; commit {info['git_commit'][:12]}",
            highlight=False,
        )
    for problem in problems:
        console.print(f"[yellow]warning:[/yellow] {problem}", highlight=False)
    console.print(results_table(records, title=f"run {run_dir.name}"))
    devices = sorted({f"{r['delivery']}: {r['device']}" for r in records if r.get("device")})
    if devices:
        console.print(f"batches delivered to {'; '.join(devices)}", highlight=False)
    checks = [r["metrics"]["conformance_s"] for r in records if "conformance_s" in (r.get("metrics") or {})]
    if checks:
        console.print(f"conformance checks, untimed: {sum(checks):.1f} s over {len(checks)} cells", highlight=False)
    setups = [
        f"{r['cell_id']} {r['metrics']['setup_s']:.2f} s" for r in records
        if (r.get("metrics") or {}).get("setup_s", 0) >= 0.005
    ]
    if setups:
        console.print(f"set-up, untimed (prepare: format conversion): {'; '.join(setups)}", highlight=False)
    planned = {f"{c['scenario']}/{c['variant']}/{c['adapter']}" for c in info.get("cells", [])}
    missing = planned - {r["cell_id"] for r in records}
    if missing:
        console.print(
            f"{len(missing)} of {len(planned)} cells have no record; finish them with "
            f"`datarax-bench run --resume {run_dir.name} --output {run_dir.parent}`",
            highlight=False,
        )
    return 0
