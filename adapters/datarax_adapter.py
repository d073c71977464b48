"""datarax itself: the scenario's transforms as operators fused into one compiled step."""

from __future__ import annotations

from typing import Callable, Iterator

from adapters.base import Adapter, Job
from scenarios import Scenario, Transform, Variant


def _operator_factories() -> dict[str, Callable]:
    """Transform name → ``(transform, seed) -> OperatorModule``; imports the engine lazily."""
    from flax import nnx

    from datarax.operators import ElementOperator, ElementOperatorConfig
    from datarax.operators import image as ops

    def element_op(t: Transform, seed: int, fn, stochastic: bool):
        field = t.field

        def apply(element, key):
            value = element.data[field]
            return element.update_data({field: fn(value, key) if stochastic else fn(value)})

        config = ElementOperatorConfig(stochastic=stochastic, stream_name=t.name if stochastic else None)
        return ElementOperator(config, fn=apply, rngs=nnx.Rngs(seed) if stochastic else None)

    def random_resized_crop(t, seed):
        kw = t.kwargs
        fn = lambda img, key: ops.random_resized_crop(img, key, tuple(kw["size"]), kw["scale"], kw["ratio"])
        return element_op(t, seed, fn, stochastic=True)

    def random_horizontal_flip(t, seed):
        return element_op(t, seed, lambda img, key: ops.random_horizontal_flip(img, key, t.kwargs["p"]), True)

    def normalize(t, seed):
        kw = t.kwargs
        return element_op(t, seed, lambda img: ops.normalize(img, kw["mean"], kw["std"], kw["scale"]), False)

    return {
        "random_resized_crop": random_resized_crop,
        "random_horizontal_flip": random_horizontal_flip,
        "normalize": normalize,
    }


SUPPORTED_TRANSFORMS = frozenset({"random_resized_crop", "random_horizontal_flip", "normalize"})


class DataraxAdapter(Adapter):
    name = "datarax"

    def __init__(self):
        self._pipelines: dict[tuple, object] = {}

    def version(self) -> str:
        import datarax

        return datarax.__version__

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        missing = [t.name for t in scenario.transforms(variant) if t.name not in SUPPORTED_TRANSFORMS]
        return f"no datarax operator for {missing}" if missing else None

    def _build(self, job: Job):
        from datarax import Pipeline
        from datarax.sources import MemorySource

        factories = _operator_factories()
        variant = job.variant
        stages = [factories[t.name](t, job.seed) for t in job.scenario.transforms(variant)]
        source = MemorySource(data=job.arrays())
        return Pipeline(source, stages, batch_size=variant.batch_size, shuffle=job.shuffle, seed=job.seed)

    def open(self, job: Job) -> Iterator[dict]:
        key = (job.scenario_id, job.variant_name, job.seed, job.shuffle)
        if key not in self._pipelines:
            self._pipelines[key] = self._build(job)
        pipeline = self._pipelines[key]
        pipeline.set_state({"epoch": 0, "batch_index": 0})
        return iter(pipeline)

    def close(self) -> None:
        self._pipelines.clear()
