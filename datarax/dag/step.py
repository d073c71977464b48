"""The compiled step: a pipeline's ``STEP`` stages traced into one jitted function per batch
shape, and :func:`run_stages`, its body, for training the stages' parameters."""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
from flax import nnx

from datarax.core.stage import Stage, apply_stage
from datarax.typing import Batch

# XLA's CPU backend at LLVM optimisation level 1 compiles a pipeline step 2-3x faster than at
# its default, and the steps (gathers, element-wise maps, small matmuls) ran no slower in the
# benchmark's scenarios: time to first batch is mostly compilation.
_CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def run_stages(stages: Sequence[Stage], batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
    """Applies ``stages`` (a pipeline's ``stages``) to one batch: the body of the compiled step.

    Traceable and differentiable: call it inside ``nnx.grad``/``nnx.jit`` to train the
    stages' parameters on batches from :meth:`~datarax.Pipeline.inputs`. Each stage must keep
    the batch dimension, so one that drops or adds records fails with its name.
    """
    size = record_ids.shape[0]
    for stage in stages:
        batch = apply_stage(stage, batch, record_ids, epoch)
        check_stage_output(stage.name, batch, size)
    if not isinstance(batch, dict):
        raise TypeError(f"the last stage {stages[-1].name} returned {len(batch)} branches: "
                        "end a Parallel node with a Merge")
    return batch


def check_stage_output(name: str, batch: Any, size: int) -> None:
    """A stage returns a dict batch (or a Parallel node's tuple of them) of ``size`` rows."""
    for one in batch if isinstance(batch, tuple) else (batch,):
        if not isinstance(one, dict):
            raise TypeError(f"stage {name} returned {type(one).__name__}, expected a dict batch")
        wrong = {k: tuple(v.shape) for k, v in one.items() if not v.shape or v.shape[0] != size}
        if wrong:
            raise ValueError(
                f"stage {name} changed the batch dimension: fields {wrong} should have "
                f"{size} rows; operators must keep one output record per input record"
            )


@functools.lru_cache(maxsize=64)
def compile_step(graphdef: nnx.GraphDef, treedef: Any, names: tuple[str, ...], batches_per_step: int | None = None) -> Callable:
    """The compiled step over every stage, traced into one jit.

    Unstacked (``batches_per_step=None``): ``step(leaves, batch, record_ids, epoch) -> batch``.
    Stacked: ``step(leaves, batches[K], record_ids[K], epochs[K]) -> (batch, …)`` with ``K``
    separate output batches, each computed by the stages on its own batch (``vmap``).

    ``leaves`` are the stages' variables flattened by ``treedef`` (a flat list crosses the
    jit boundary faster than an ``nnx.State``). Cached by graph structure (``names`` keeps
    apart graphs whose structure matches but whose stages differ), so pipelines built alike
    share compilations; jit itself caches per batch shape.
    """
    options = _CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None

    def one(leaves, batch, record_ids, epoch):
        return run_stages(nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves)), batch, record_ids, epoch)

    if batches_per_step is None:
        return jax.jit(one, compiler_options=options)

    def chunk(leaves, batches, record_ids, epochs):
        out = jax.vmap(one, in_axes=(None, 0, 0, 0))(leaves, batches, record_ids, epochs)
        return tuple(jax.tree.map(lambda a: a[k], out) for k in range(batches_per_step))

    return jax.jit(chunk, compiler_options=options)


def split_stages(stages: Any) -> tuple[nnx.GraphDef, Any, list]:
    """``(graphdef, treedef, leaves)`` of ``stages``: what :func:`compile_step` takes."""
    graphdef, state = nnx.split(stages)
    leaves, treedef = jax.tree.flatten(state)
    return graphdef, treedef, leaves


@functools.lru_cache(maxsize=16)
def compile_scan(train_step: Callable, graphdef: nnx.GraphDef, treedef: Any) -> Callable:
    """``fused(leaves, carry, stacked) -> (carry, outputs)``: the stages and ``train_step``
    over a stack of batches in one ``jax.lax.scan``."""

    def fused(leaves, carry, stacked):
        stages = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
        return jax.lax.scan(lambda c, xs: train_step(c, run_stages(stages, *xs)), carry, stacked)

    return jax.jit(fused)
