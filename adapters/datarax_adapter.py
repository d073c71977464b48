"""datarax itself: the scenario's transforms as library operators fused into one compiled step."""

from __future__ import annotations

from typing import Callable, Iterator

from adapters.base import Adapter, Job
from scenarios import Scenario, Transform, Variant


def _operator_factories() -> dict[str, Callable]:
    """Transform name → ``(transform, seed) -> OperatorModule``; imports the engine lazily."""
    from flax import nnx

    from datarax.operators import image, sequence, tabular

    def rngs(seed):
        return nnx.Rngs(seed)

    return {
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
    }


SUPPORTED_TRANSFORMS = frozenset(
    {"random_resized_crop", "random_horizontal_flip", "normalize", "shift_tokens", "standardize"}
)


class DataraxAdapter(Adapter):
    name = "datarax"

    def __init__(self):
        self._pipelines: dict[tuple, tuple[object, dict]] = {}

    def version(self) -> str:
        import datarax

        return datarax.__version__

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        missing = [t.name for t in scenario.transforms(variant) if t.name not in SUPPORTED_TRANSFORMS]
        return f"no datarax operator for {missing}" if missing else None

    def _build(self, job: Job):
        from datarax import Pipeline
        from datarax.sources import NpySource, NpySourceConfig

        factories = _operator_factories()
        variant = job.variant
        stages = [factories[t.name](t, job.seed) for t in job.scenario.transforms(variant)]
        source = NpySource(NpySourceConfig(path=dict(job.data)))  # memory-mapped, like the others
        # time_stages: next() waits for the step (the harness waits for the batch right after
        # anyway), so the record's per-stage breakdown includes the compiled step.
        return Pipeline(source, stages, batch_size=variant.batch_size, shuffle=job.shuffle, seed=job.seed,
                        time_stages=True)

    def open(self, job: Job) -> Iterator[dict]:
        key = (job.scenario_id, job.variant_name, job.seed, job.shuffle)
        if key not in self._pipelines:
            pipeline = self._build(job)
            self._pipelines[key] = (pipeline, pipeline.get_state())
        pipeline, start = self._pipelines[key]
        pipeline.set_state(start)  # every open() starts a fresh epoch 0; the compiled step is reused
        return iter(pipeline)

    def step_cost(self, job: Job) -> dict[str, float]:
        """XLA's cost analysis of the compiled step, per batch (read by ``bench.roofline``)."""
        pipeline, start = self._pipelines[(job.scenario_id, job.variant_name, job.seed, job.shuffle)]
        pipeline.set_state(start)
        return pipeline.compiled_cost()

    def close(self) -> None:
        self._pipelines.clear()
