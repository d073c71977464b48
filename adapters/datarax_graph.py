"""The datarax adapter's graph scenarios: the operators they add (MixUp/CutMix, per-record random
application, a box blur, a learnable normalization) and the pipeline shapes they ask for
(parallel views merged, ``Cache``, ``Rebatch``, a device mesh, an optimizer step per batch).

A scenario asks through its variant's parameters: ``views`` (PC-2), ``cache`` (IO-4),
``source_batch`` (PC-3, with ``ordered``), ``mesh``/``axes``/``batch_axes`` (DIST-1/2),
``processes`` (DIST-3: a shard per JAX process); PC-5's ``learnable_standardize`` transform is
trained between batches by :func:`train_between_batches`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

CACHE_BYTES = 2 << 30  # the memory budget of IO-4's in-memory cache


def more_factories(factories: dict[str, Callable]) -> dict[str, Callable]:
    """Transform name → ``(transform, seed) -> OperatorModule`` for the graph scenarios;
    ``random_apply`` wraps the operator ``factories`` builds for its ``op``."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from datarax.operators import MapOperator, MapOperatorConfig
    from datarax.operators.batch_mix import BatchMixConfig, BatchMixOperator
    from datarax.operators.composite import ProbabilisticOperator
    from datarax.operators.learnable import LearnableConfig, LearnableNormalize
    from scenarios import Transform

    def mix(t, seed):
        kw = t.kwargs
        if kw["partner"] != "previous":
            raise ValueError(f"{t.name}: BatchMixOperator mixes each record with the previous one, not {kw['partner']!r}")
        return BatchMixOperator(BatchMixConfig(
            mode=t.name, alpha=kw["alpha"], per_element=True, image_field=t.field,
            label_field=kw["label_field"], num_classes=kw["classes"]), rngs=nnx.Rngs(seed))

    def random_apply(t, seed):
        op, params = t.kwargs["op"], dict(t.kwargs["op_params"])
        inner = factories[op](Transform.of(op, field=t.field, **params), seed)
        return ProbabilisticOperator(inner, t.kwargs["p"], rngs=nnx.Rngs(seed),
                                     stream_name=f"random_apply/{op}/{sorted(params.items())}")

    def box_blur(t, seed):
        iterations = t.kwargs["iterations"]

        def blur(image):
            height, width = image.shape[:2]

            def one_pass(_, x):
                padded = jnp.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
                total = jnp.zeros_like(x)
                for dy in range(3):
                    for dx in range(3):
                        total = total + padded[dy:dy + height, dx:dx + width]
                return total / jnp.float32(9)

            return jax.lax.fori_loop(0, iterations, one_pass, image.astype(jnp.float32))

        return MapOperator(MapOperatorConfig(fields=(t.field,)), fn=blur)

    return {
        "mixup": mix,
        "cutmix": mix,
        "random_apply": random_apply,
        "box_blur": box_blur,
        "learnable_standardize": lambda t, seed: LearnableNormalize(
            LearnableConfig(field=t.field, channels=t.kwargs["features"])),
    }


def _view_seed(seed: int, view: int) -> int:
    """An independent seed per view, so the views' random keys differ."""
    return int(np.random.SeedSequence([seed, view]).generate_state(1)[0] & 0x7FFFFFFF)


def _mesh(params: dict[str, Any]):
    import jax
    from jax.sharding import Mesh

    shape, count = tuple(params["mesh"]), int(np.prod(params["mesh"]))
    devices = jax.devices()
    if len(devices) < count:
        raise RuntimeError(
            f"a {shape} mesh needs {count} devices, JAX sees {len(devices)}: start the process with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={count} (the runner sets it for the cell)"
        )
    return Mesh(np.asarray(devices[:count]).reshape(shape), tuple(params["axes"]))


def _process_shard(job) -> dict[str, Any]:
    """Pipeline options for one of ``job.process_count`` processes: its shard of the index space
    and its share of the global batch, assembled over a 1-D mesh of every process's devices."""
    import jax
    from jax.sharding import Mesh

    if job.process_count != jax.process_count() or job.process_index != jax.process_index():
        raise RuntimeError(f"the job is process {job.process_index} of {job.process_count}, JAX runs process "
                           f"{jax.process_index()} of {jax.process_count()}: initialise jax.distributed first")
    return {"mesh": Mesh(np.asarray(jax.devices()), ("data",)), "data_axes": ("data",),
            "shard_index": job.process_index, "shard_count": job.process_count,
            "batch_size": job.variant.batch_size // job.process_count}


def build_pipeline(job, stages_for: Callable[[int], list], source, cache_dir: Callable[[], Path]):
    """The job's pipeline: ``stages_for(seed)`` (the scenario's operators) shaped as its variant asks."""
    from datarax import Pipeline
    from datarax.dag import Cache, Merge, Parallel, Rebatch, Sequential

    params = dict(job.variant.params)
    stages = stages_for(job.seed)
    options: dict[str, Any] = {"batch_size": job.variant.batch_size}
    if "views" in params:
        paths = [Sequential(stages_for(_view_seed(job.seed, v))) for v in range(params["views"])]
        stages = [Parallel(paths), Merge("stack")]
    if "cache" in params:
        disk = {"directory": cache_dir(), "num_records": job.variant.num_records} if params["cache"] == "disk" else {}
        stages = [Cache(stages, max_bytes=CACHE_BYTES, **disk)]
    if "source_batch" in params:
        options["batch_size"] = params["source_batch"]
        stages = [*stages, Rebatch(job.variant.batch_size)]
    if "mesh" in params:
        options.update(mesh=_mesh(params), data_axes=tuple(params["batch_axes"]))
    if "processes" in params:  # DIST-3: this process's shard of each global batch
        options.update(_process_shard(job))
    shuffle = job.shuffle and not params.get("ordered", False)
    return Pipeline(source, stages, shuffle=shuffle, seed=job.seed, **options)


def trains(job) -> bool:
    return any(t.name == "learnable_standardize" for t in job.scenario.transforms(job.variant))


def train_between_batches(pipeline, job) -> Iterator[dict]:
    """PC-5: each batch from the current parameters, then one Adam step on the scenario's loss
    of that batch, differentiated through the pipeline's stages (one jitted step)."""
    import optax
    from flax import nnx

    (t,) = [t for t in job.scenario.transforms(job.variant) if t.name == "learnable_standardize"]
    optimizer = nnx.Optimizer(pipeline.stages, optax.adam(t.kwargs["learning_rate"]), wrt=nnx.Param)
    step = _train_step(t.field)
    for batch, ids, epoch in pipeline.inputs():
        yield step(pipeline.stages, optimizer, batch, ids, epoch)


@functools.lru_cache(maxsize=None)
def _train_step(field: str) -> Callable:
    """The jitted step (built once, so every open() reuses its compilation)."""
    import jax.numpy as jnp
    from flax import nnx

    from datarax.dag import run_stages
    from scenarios.learnable import standardize_loss

    @nnx.jit
    def step(stages, optimizer, batch, ids, epoch):
        def loss(stages):
            out = run_stages(stages, batch, ids, epoch)
            return standardize_loss(out[field], jnp), out

        (_, out), grads = nnx.value_and_grad(loss, has_aux=True)(stages)
        optimizer.update(stages, grads)
        return out

    return step
