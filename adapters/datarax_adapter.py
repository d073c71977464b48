"""datarax itself: the scenario's transforms as library operators fused into one compiled step.

Delivery: the engine's batches are already ``jax.Array``s on JAX's default device (the profile's
backend), or global arrays on the cell's mesh; in host mode the harness copies them to host
NumPy arrays inside the clock, as it converts every loader's batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from adapters import _formats
from adapters._inject import injected_fraction, slowed
from adapters.base import Adapter, Job
from adapters.datarax_graph import build_pipeline, more_factories, train_between_batches, trains
from scenarios import Scenario, Transform, Variant


def _operator_factories() -> dict[str, Callable]:
    """Transform name → ``(transform, seed) -> OperatorModule``; imports the engine lazily."""
    from flax import nnx

    import jax.numpy as jnp

    from datarax.operators import (
        ElementOperator, ElementOperatorConfig, MapOperator, MapOperatorConfig, audio, image, sequence, tabular,
        volume,
    )

    def rngs(seed):
        return nnx.Rngs(seed)

    def elementwise(fn):
        """A deterministic one-field map: the idiomatic datarax stage for a user function."""
        return lambda t, seed: MapOperator(MapOperatorConfig(fields=(t.field,)), fn=lambda x: fn(x, **t.kwargs))

    factories = {
        "random_resized_crop": lambda t, seed: image.RandomResizedCrop(
            image.RandomResizedCropConfig(
                field=t.field, size=tuple(t.kwargs["size"]), scale=tuple(t.kwargs["scale"]),
                ratio=tuple(t.kwargs["ratio"]),
            ),
            rngs=rngs(seed),
        ),
        "random_horizontal_flip": lambda t, seed: image.RandomFlip(
            image.RandomFlipConfig(field=t.field, p=t.kwargs["p"], axis=1), rngs=rngs(seed)
        ),
        "normalize": lambda t, seed: image.Normalize(
            image.NormalizeConfig(
                field=t.field, mean=tuple(t.kwargs["mean"]), std=tuple(t.kwargs["std"]),
                scale=t.kwargs["scale"],
            )
        ),
        "shift_tokens": lambda t, seed: sequence.ShiftTokens(sequence.ShiftTokensConfig(field=t.field)),
        "standardize": lambda t, seed: tabular.Standardize(
            tabular.StandardizeConfig(field=t.field, mean=tuple(t.kwargs["mean"]), std=tuple(t.kwargs["std"]))
        ),
        # A host stage: the width depends on the batch, so it runs before the compiled step.
        "pad_to_bucket": lambda t, seed: sequence.DynamicPadToBucket(sequence.DynamicPadToBucketConfig(
            field=t.field, buckets=_buckets(t.kwargs["bucket_size"], t.kwargs["max_len"]),
            pad_value=t.kwargs["pad_value"], length_field=t.kwargs["length_field"],
        )),
        "pad_to_length": lambda t, seed: sequence.PadToLength(sequence.PadToLengthConfig(field=t.field, **t.kwargs)),
        "attention_mask": lambda t, seed: sequence.AttentionMask(sequence.AttentionMaskConfig(field=t.field, **t.kwargs)),
        "random_rotate": lambda t, seed: image.RandomAffine(
            image.RandomAffineConfig(field=t.field, degrees=t.kwargs["degrees"]), rngs=rngs(seed)
        ),
        # One stream per field: crops of several fields (CV-4's scales) are drawn independently.
        "random_crop": lambda t, seed: image.RandomCrop(
            image.RandomCropConfig(field=t.field, size=tuple(t.kwargs["size"]), stream_name=f"random_crop/{t.field}"),
            rngs=rngs(seed),
        ),
        "random_window": lambda t, seed: audio.RandomWindow(
            audio.RandomWindowConfig(field=t.field, **t.kwargs), rngs=rngs(seed)
        ),
        "log_mel": lambda t, seed: audio.LogMel(audio.LogMelConfig(field=t.field, **t.kwargs)),
        "multi_scale_resize": lambda t, seed: ElementOperator(ElementOperatorConfig(), fn=_multi_scale_resize(t)),
        "random_crop_3d": lambda t, seed: volume.RandomCrop3D(
            volume.RandomCrop3DConfig(field=t.field, size=tuple(t.kwargs["size"])), rngs=rngs(seed)
        ),
        "zscore": lambda t, seed: volume.ZScore(volume.ZScoreConfig(field=t.field, eps=t.kwargs["eps"])),
        "log1p": lambda t, seed: tabular.Log1p(tabular.Log1pConfig(field=t.field)),
        "hash_to_vocabulary": lambda t, seed: tabular.HashToVocabulary(
            tabular.HashToVocabularyConfig(field=t.field, vocab_size=t.kwargs["vocab_size"], salt=t.kwargs["salt"])
        ),
        "normalize_function": elementwise(
            lambda x, scale, mean, std: (x.astype(jnp.float32) * jnp.float32(scale) - jnp.asarray(mean, jnp.float32))
            / jnp.asarray(std, jnp.float32)
        ),
        "multiply": elementwise(lambda x, factor: x.astype(jnp.float32) * jnp.float32(factor)),
        "add": elementwise(lambda x, value: x.astype(jnp.float32) + jnp.float32(value)),
        "clip": elementwise(lambda x, low, high: jnp.clip(x.astype(jnp.float32), low, high)),
    }
    factories.update(more_factories(factories))
    return factories


SUPPORTED_TRANSFORMS = frozenset(
    {"random_resized_crop", "random_horizontal_flip", "normalize", "shift_tokens", "standardize",
     "multiply", "add", "clip", "log1p", "hash_to_vocabulary",
     "pad_to_length", "pad_to_bucket", "attention_mask", "random_crop_3d", "zscore",
     "random_rotate", "random_crop", "multi_scale_resize", "random_window", "log_mel", "mixup", "cutmix", "random_apply", "box_blur", "learnable_standardize"}
)
# Storage backends (IO-1's ``backend`` parameter; every other scenario reads memory-mapped .npy).
SUPPORTED_BACKENDS = frozenset({"npy", "memory", "array_record", "parquet"})


def _stages(job: Job, seed: int | None = None) -> list:
    """The scenario's transforms as operators; NNX-1's ``function`` variants take the
    plain-function path for the same math."""
    factories = _operator_factories()
    suffix = "_function" if dict(job.variant.params).get("implementation") == "function" else ""
    seed = job.seed if seed is None else seed
    return [factories[t.name + suffix](t, seed) for t in job.scenario.transforms(job.variant)]


def _multi_scale_resize(t: Transform) -> Callable:
    """CV-4: ``t.field`` → one bilinear resize per size, as the fields ``out_fields`` (the source
    field dropped): a user function of one record, datarax's ``ElementOperator`` idiom."""
    import dataclasses

    from datarax.operators.image import resize

    def fn(element, key):
        data = {k: v for k, v in element.data.items() if k != t.field}
        image = element.data[t.field]
        data.update({name: resize(image, tuple(size)) for name, size in zip(t.kwargs["out_fields"], t.kwargs["sizes"])})
        return dataclasses.replace(element, data=data)

    return fn


def _buckets(bucket_size: int, max_len: int) -> tuple[int, ...]:
    """Widths a bucketed batch may take: multiples of ``bucket_size`` below ``max_len``, and it."""
    return (*range(bucket_size, max_len, bucket_size), max_len)


def _source(job: Job, backend: str):
    """The job's records through ``backend``; ``npy`` memory-maps them, like the other loaders."""
    import numpy as np

    from datarax.sources import (
        ArrayRecordSource, ArrayRecordSourceConfig, MemorySource, MixedSource, MixedSourceConfig, NpySource,
        NpySourceConfig,
    )

    if "offsets" in job.data:  # NLP-2: ragged tokens
        return _ragged_source(job)
    weights = dict(job.variant.params).get("weights")
    if weights is not None:  # IO-3: one source per dataset, mixed; fields are <dataset>_<field>
        datasets = sorted({name.split("_", 1)[0] for name in job.data})
        sources = [
            NpySource(NpySourceConfig(path={
                name.split("_", 1)[1]: path for name, path in job.data.items() if name.startswith(f"{d}_")
            }))
            for d in datasets
        ]
        return MixedSource(
            MixedSourceConfig(weights=tuple(weights), seed=job.seed, num_records=job.variant.num_records),
            sources=sources,
        )
    if backend == "memory":
        return MemorySource(data={name: np.load(path) for name, path in job.data.items()})
    if backend == "parquet":  # the Parquet file every loader reads (adapters._formats), written once
        from adapters._formats import parquet_file
        from datarax.sources import ParquetSource, ParquetSourceConfig

        return ParquetSource(ParquetSourceConfig(path=str(parquet_file(job))))
    if backend == "array_record":
        return ArrayRecordSource(ArrayRecordSourceConfig(paths=str(_formats.array_record_file(job))))
    return NpySource(NpySourceConfig(path=dict(job.data)))


def _ragged_source(job: Job):
    """Gathers each batch padded to its bucket on the host. The ``pad_to_bucket`` stage keeps
    the width per batch even when the engine gathers several batches in one call."""
    from datarax.sources import RaggedSource, RaggedSourceConfig

    pad = next(t for t in job.scenario.transforms(job.variant) if t.name == "pad_to_bucket")
    columns = {name: path for name, path in job.data.items() if name not in (pad.field, "offsets")}
    return RaggedSource(RaggedSourceConfig(
        tokens=job.data[pad.field], offsets=job.data["offsets"], columns=columns, field=pad.field,
        length_field=pad.kwargs["length_field"], bucket_size=pad.kwargs["bucket_size"],
        max_len=pad.kwargs["max_len"], pad_value=pad.kwargs["pad_value"],
    ))


class DataraxAdapter(Adapter):
    name = "datarax"

    def __init__(self):
        self._pipelines: dict[tuple, tuple[object, dict]] = {}

    def version(self) -> str:
        import datarax

        return datarax.__version__

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        missing = [t.name for t in scenario.transforms(variant) if t.name not in SUPPORTED_TRANSFORMS]
        if missing:
            return f"no datarax operator for {missing}"
        backend = dict(variant.params).get("backend", "npy")
        if backend not in SUPPORTED_BACKENDS:
            return f"no datarax source for the {backend!r} backend (has: {', '.join(sorted(SUPPORTED_BACKENDS))})"
        return None

    def prepare(self, job: Job) -> None:
        """Writes IO-1's ArrayRecord or Parquet file once (the writers every loader shares)."""
        _formats.prepare_backend(job)

    def _build(self, job: Job):
        source = _source(job, dict(job.variant.params).get("backend", "npy"))
        fraction = injected_fraction()
        if fraction:  # the gate's calibration: a slower gather, never set in a measured run
            object.__setattr__(source, "gather", slowed(source.gather, fraction))
        # The graph scenarios (views, Cache, Rebatch, mesh) shape the stages. Steps are not
        # waited for inside next() (time_stages off): waiting would stop XLA computing the
        # chunks dispatched ahead while the harness reads the current batch.
        return build_pipeline(job, lambda seed: _stages(job, seed), source, self._cache_dir)

    def _cache_dir(self) -> Path:
        """A fresh folder for an on-disk Cache, removed by close(): no run sees another's cache."""
        import tempfile

        if getattr(self, "_cache_root", None) is None:
            self._cache_root = Path(tempfile.mkdtemp(prefix="datarax-cache-"))
        return self._cache_root

    def open(self, job: Job) -> Iterator[dict]:
        key = (job.scenario_id, job.variant_name, job.seed, job.shuffle)
        if key not in self._pipelines:
            pipeline = self._build(job)
            self._pipelines[key] = (pipeline, pipeline.get_state())
        pipeline, start = self._pipelines[key]
        pipeline.set_state(start)  # every open() starts a fresh epoch 0; the compiled step is reused
        return train_between_batches(pipeline, job) if trains(job) else iter(pipeline)

    def save_checkpoint(self, job: Job, iterator: Iterator[dict], directory: Path) -> None:
        """PR-1: the pipeline's position after the batches ``iterator`` yielded, as plain files."""
        from datarax.checkpoint.files import save_state

        pipeline, _ = self._pipelines[(job.scenario_id, job.variant_name, job.seed, job.shuffle)]
        save_state(directory, pipeline.get_state())

    def resume(self, job: Job, directory: Path) -> Iterator[dict]:
        """PR-1: a freshly built pipeline (what a restarted trainer has) resumed from ``directory``."""
        from datarax.checkpoint.files import load_state

        pipeline = self._build(job)
        pipeline.set_state(load_state(directory))
        return iter(pipeline)

    def step_cost(self, job: Job) -> dict[str, float]:
        """XLA's cost analysis of the compiled step, per batch (read by ``bench.roofline``)."""
        pipeline, start = self._pipelines[(job.scenario_id, job.variant_name, job.seed, job.shuffle)]
        pipeline.set_state(start)
        return pipeline.compiled_cost()

    def close(self) -> None:
        import shutil

        self._pipelines.clear()
        if getattr(self, "_cache_root", None) is not None:
            shutil.rmtree(self._cache_root, ignore_errors=True)
            self._cache_root = None
