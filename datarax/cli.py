"""``datarax``: the engine's command line (environment facts for now)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="datarax", description="datarax: data pipelines for JAX, as Flax NNX modules."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print datarax, JAX and Flax versions and the visible devices")
    args = parser.parse_args(argv)
    if args.command == "info":
        import flax
        import jax

        import datarax

        print(f"datarax {datarax.__version__}")
        print(f"jax {jax.__version__}, flax {flax.__version__}")
        print(f"devices: {', '.join(str(d) for d in jax.devices())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
