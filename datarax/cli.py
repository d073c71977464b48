"""``datarax``: the engine's command line.

``datarax info`` prints versions and devices; ``datarax run pipeline.toml`` builds a pipeline
from a TOML file, iterates it with a progress bar and prints its throughput and per-stage
times. The file::

    [source]                      # type = "npy" (path = folder of <field>.npy) or "synthetic"
    type = "synthetic"
    num_records = 1000
    fields = { image = { shape = [28, 28, 1], dtype = "float32" }, label = { shape = [], dtype = "int32" } }

    [pipeline]                    # any Pipeline option: batch_size, shuffle, seed, prefetch, …
    batch_size = 32

    [[operators]]                 # in order; name = a built-in operator, the rest its config
    name = "Normalize"
    field = "image"
    mean = [0.5]
    std = [0.5]

A stochastic operator (``stochastic = true`` and a ``stream_name``, or one that always is) is
seeded from the pipeline's ``seed`` and its place in the list.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
import time
import tomllib
from typing import Any

# Modules whose ``X``/``XConfig`` pairs are the operators a pipeline file may name.
_OPERATOR_MODULES = ("datarax.operators.image.ops", "datarax.operators.sequence",
                     "datarax.operators.tabular", "datarax.operators.learnable", "datarax.operators.batch_mix")


class UsageError(ValueError):
    """A bad pipeline file: reported without a traceback, exit status 2."""


def operator_registry() -> dict[str, tuple[type, type]]:
    """Built-in operator name → (class, config class)."""
    from datarax.core.stage import Stage

    found = {}
    for module_name in _OPERATOR_MODULES:
        module = importlib.import_module(module_name)
        for name, cls in vars(module).items():
            config = getattr(module, f"{name}Config", None)
            if (inspect.isclass(cls) and issubclass(cls, Stage)
                    and not name.startswith("_") and config is not None):
                found[name] = (cls, config)
    return found


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _build_source(spec: dict[str, Any]):
    import numpy as np

    from datarax.sources import MemorySource, NpySource, NpySourceConfig

    kind = spec.get("type")
    if kind == "npy":
        if not spec.get("path"):
            raise UsageError("[source] type = 'npy' needs path = (a folder of <field>.npy files)")
        return NpySource(NpySourceConfig(path=spec["path"]))
    if kind == "synthetic":
        rng = np.random.default_rng(spec.get("seed", 0))
        n = spec.get("num_records", 1000)
        fields = spec.get("fields") or {"image": {"shape": [28, 28, 1], "dtype": "float32"}}
        data = {name: (rng.uniform(0, 255, (n, *f.get("shape", []))).astype(f.get("dtype", "float32")))
                for name, f in fields.items()}
        return MemorySource(data=data)
    raise UsageError(f"[source] type must be one of ['npy', 'synthetic'], got {kind!r}")


def _build_operator(index: int, spec: dict[str, Any], registry: dict, seed: int):
    from flax import nnx

    from datarax.core.module import OperatorConfig

    params = dict(spec)
    name = params.pop("name", None)
    if name not in registry:
        raise UsageError(f"operators[{index}]: unknown operator {name!r}; valid names: {', '.join(sorted(registry))}")
    cls, config_cls = registry[name]
    valid = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise UsageError(f"operators[{index}] {name}: unknown options {unknown}; valid options: {valid}")
    try:
        config = config_cls(**{k: _tuples(v) for k, v in params.items()})
        stochastic = isinstance(config, OperatorConfig) and config.stochastic
        seeded = {"rngs": nnx.Rngs(seed + index)} if stochastic else {}
        return cls(config, **seeded)
    except (TypeError, ValueError) as error:
        raise UsageError(f"operators[{index}] {name}: {error}") from error


def build_pipeline(spec: dict[str, Any]):
    """A ``Pipeline`` from a parsed pipeline file (see the module docstring)."""
    from datarax import Pipeline
    from datarax.pipeline import PipelineConfig

    unknown = sorted(set(spec) - {"source", "pipeline", "operators"})
    if unknown:
        raise UsageError(f"unknown sections {unknown}; valid sections: ['operators', 'pipeline', 'source']")
    options = dict(spec.get("pipeline", {}))
    options.setdefault("batch_size", 32)
    registry = operator_registry()
    stages = [_build_operator(i, op, registry, options.get("seed", 0)) for i, op in enumerate(spec.get("operators", []))]
    valid = [f.name for f in dataclasses.fields(PipelineConfig) if f.name not in ("mesh", "data_axes")]
    if set(options) - set(valid):
        raise UsageError(f"[pipeline]: unknown options {sorted(set(options) - set(valid))}; valid options: {valid}")
    try:
        return Pipeline(_build_source(spec.get("source", {})), stages, **options)
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from error


def _progress(done: int, total: int, started: float) -> None:
    width = 30
    filled = width * done // total
    rate = done / max(time.perf_counter() - started, 1e-9)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} batches, {rate:.1f} batches/s")
    sys.stderr.flush()


def run(path: str, batches: int | None, progress: bool) -> int:
    import jax

    try:
        with open(path, "rb") as f:
            spec = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"cannot read pipeline file {path}: {error}") from error
    pipeline = build_pipeline(spec)
    total = batches if batches is not None else pipeline.batches_per_epoch
    iterator = iter(pipeline)
    started = time.perf_counter()
    done, last, first = 0, None, None
    for done, last in enumerate(iterator, start=1):
        if first is None:
            jax.block_until_ready(last)
            first = time.perf_counter() - started
        if progress:
            _progress(done, total, started)
        if done >= total:
            break
    jax.block_until_ready(last)
    seconds = time.perf_counter() - started
    if progress:
        sys.stderr.write("\n")
    records = done * pipeline.batch_size
    print(f"batches {done}, records {records}, seconds {seconds:.3f}, records/s {records / seconds:.1f}")
    if done > 1:
        steady = (done - 1) * pipeline.batch_size / (seconds - first)
        print(f"first batch (with compilation) {first:.3f} s; after it, records/s {steady:.1f}")
    for key, value in iterator.stage_times().items():
        print(f"  {key} {value:.4f}" if key.endswith("_s") else f"  {key} {value}")
    iterator.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datarax", description="datarax: data pipelines for JAX, as Flax NNX modules."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("info", help="print datarax, JAX and Flax versions and the visible devices")
    run_parser = sub.add_parser("run", help="build a pipeline from a TOML file and iterate it, printing stats")
    run_parser.add_argument("file", help="pipeline TOML file (sections: source, pipeline, operators)")
    run_parser.add_argument("--batches", type=int, default=None, help="batches to read (default: one epoch)")
    run_parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sub.add_parser("operators", help="list the operator names a pipeline file may use")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        import flax
        import jax

        import datarax

        print(f"datarax {datarax.__version__}")
        print(f"jax {jax.__version__}, flax {flax.__version__}")
        print(f"devices: {', '.join(str(d) for d in jax.devices())}")
    elif args.command == "operators":
        print("\n".join(sorted(operator_registry())))
    elif args.command == "run":
        if args.batches is not None and args.batches < 1:
            parser.error(f"--batches must be >= 1, got {args.batches}")
        try:
            return run(args.file, args.batches, not args.no_progress)
        except UsageError as error:
            print(f"datarax: error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
