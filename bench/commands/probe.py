"""``datarax-bench probe``: the machine facts and measured ceilings every result is recorded with."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table


_BACKENDS = ("cpu", "gpu", "tpu")


def register(sub) -> None:
    probe = sub.add_parser(
        "probe", help="print the machine's facts and measured ceilings (copy bandwidth, peak FLOP/s)",
        description=(
            "Print what the harness knows about this machine, read from the system, and its "
            "ceilings (memory-copy bandwidth, matmul FLOP/s, host-to-device bandwidth) as a run "
            "records them: measured once per machine and backend, then cached."
        ),
    )
    probe.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    probe.add_argument("--backend", default="cpu", choices=_BACKENDS,
                       help="the JAX backend the ceilings are for, as a profile's backend (default: cpu)")
    probe.add_argument("--remeasure", action="store_true",
                       help="measure the ceilings again and replace the cached ones")
    probe.add_argument("--cache", type=Path, help="cache root (default: $DATARAX_BENCH_CACHE or results/cache)")
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


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:,.2f} {prefix}{unit}"
    return f"{value:,.2f} {unit}"


def ceilings_table(ceilings: dict) -> Table:
    table = Table(title=f"ceilings ({ceilings.get('backend', '?')}, measured {ceilings.get('measured_at', '?')})")
    for column in ("figure", "median", "spread (min … max)", "how"):
        table.add_column(column, overflow="fold")
    for name, figure in (ceilings.get("figures") or {}).items():
        if "absent" in figure:
            table.add_row(name, "absent", "", figure["absent"])
            continue
        unit = figure["unit"]
        table.add_row(
            name, _si(figure["median"], unit),
            f"{_si(figure['min'], unit)} … {_si(figure['max'], unit)} ({len(figure['trials'])} trials)",
            figure["how"],
        )
    return table


def _probe(args: argparse.Namespace, console: Console) -> int:
    from bench.datacache import default_cache_root
    from bench.isolation import child_env
    from bench.probe import cached_ceilings, ceilings_cache_path, probe

    cache_root = args.cache or default_cache_root()
    if args.remeasure:
        ceilings_cache_path(cache_root, args.backend).unlink(missing_ok=True)
    facts = probe()
    try:
        facts["ceilings"] = cached_ceilings(cache_root, args.backend, child_env(args.backend))
    except RuntimeError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 1
    if args.json:
        console.out(json.dumps(facts, indent=1), highlight=False)
        return 0
    table = Table(title="machine", show_header=False)
    table.add_column("fact", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in facts.items():
        if key != "ceilings":
            table.add_row(key, _fmt(key, value))
    console.print(table)
    console.print(ceilings_table(facts["ceilings"]))
    return 0
