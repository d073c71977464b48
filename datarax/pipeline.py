"""``Pipeline``: source → sampler → batch gather → host stages → one compiled step → output.

``from_source(src, batch_size=…) >> OperatorNode(op) >> …`` and
``Pipeline(source=…, stages=[…], batch_size=…)`` build the same object, run by the same
executor (``datarax.dag``). The pipeline is an NNX module whose runtime state is one object,
its :class:`~datarax.dag.iterator.Position`; ``get_state``/``set_state`` checkpoint it with
the stages' variables.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Sequence

import jax
import numpy as np
from flax import nnx

from datarax.core.config import check_bool, check_int, check_optional_int
from datarax.core.module import DataraxModule
from datarax.core.stage import Placement
from datarax.dag.executor import HostChunk, host_chunks, to_device
from datarax.dag.iterator import PipelineIterator, Position, dispatch_ahead, step_on_demand, unstack_arrays
from datarax.dag.monitor import StageTimes
from datarax.dag.nodes import as_stage
from datarax.dag.plan import by_placement, live, make_plan
from datarax.dag.step import compile_scan, compile_step, split_stages
from datarax.distributed.sharding import batch_sharding, check_divisible, to_global
from datarax.samplers.sampler import IndexSampler, SamplerConfig
from datarax.sources.base import DataSourceModule
from datarax.typing import Batch

# Sampler settings a saved state must agree with (num_epochs may change between runs).
_FINGERPRINT = ("num_records", "batch_size", "shuffle", "seed", "shard_index", "shard_count", "drop_remainder")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """A pipeline's options; ``Pipeline(source, stages, **options)`` takes them as keywords.

    Attributes:
      batch_size, shuffle, seed, shard_index, shard_count, drop_remainder, num_epochs: how
        records are ordered, sharded and batched (see :class:`~datarax.samplers.SamplerConfig`).
      prefetch: batches produced ahead of the caller.
      prefetch_thread: produce them in a background thread (for sources that block on I/O),
        else inline in ``next()``, XLA computing dispatched steps while the caller works.
      batches_per_step: batches gathered and stepped together; ``None`` groups batches under
        256 KiB to about 2 MiB (at most 16 batches and 32 arrays per step). Always 1 with
        trainable stages, over a mesh, or for a batch-dependent source or host stage.
      time_stages: wait for each compiled step so ``stage_times()`` counts its own time.
      mesh, data_axes: assemble each batch as a global array sharded over ``data_axes`` of
        ``mesh`` before the step (``batch_size`` is then this process's share).
    """

    batch_size: int
    shuffle: bool = False
    seed: int = 0
    shard_index: int = 0
    shard_count: int = 1
    drop_remainder: bool = True
    num_epochs: int | None = None
    prefetch: int = 2
    prefetch_thread: bool = False
    batches_per_step: int | None = None
    time_stages: bool = False
    mesh: jax.sharding.Mesh | None = None
    data_axes: str | Sequence[str] = "data"

    def __post_init__(self):
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("prefetch", self.prefetch, minimum=0)
        check_optional_int("batches_per_step", self.batches_per_step, minimum=1)
        for name in ("time_stages", "prefetch_thread"):
            check_bool(name, getattr(self, name))

    def sampler(self, num_records: int) -> SamplerConfig:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(SamplerConfig) if f.name != "num_records"}
        return SamplerConfig(num_records=num_records, **fields)


class Pipeline(DataraxModule):
    """An iterable of batches (dicts of ``jax.Array``) with a checkpointable position.

    ``options`` are :class:`PipelineConfig`'s fields. Outputs are the same for any chunking
    or prefetching: per-record keys, and every stage sees one batch. Every iterator counts
    its time per stage (``stage_times()``).

    Iteration and the position: ``iter(pipeline)`` (and :meth:`inputs`) continues from the
    pipeline's position, the batches consumed so far, and from then on owns it: the position
    advances as that iterator hands batches out (never for batches merely prefetched). A
    newer ``iter()``, :meth:`inputs`, :meth:`scan` or :meth:`set_state` takes the position
    over; an older iterator still yields its own continuing stream, but no longer moves the
    pipeline's position, so ``get_state()`` always describes the newest one.
    """

    def __init__(self, source: DataSourceModule, stages: Sequence[Any] = (), **options: Any):
        if not isinstance(source, DataSourceModule):
            raise TypeError(f"source must be a DataSourceModule, got {type(source).__name__}")
        config = PipelineConfig(**options)
        super().__init__(config)
        self.source = source
        self.sampler = IndexSampler(config.sampler(len(source)))
        placed = by_placement([as_stage(s) for s in stages], source)
        self.host_stages = nnx.List(placed[Placement.HOST])
        self.stages = nnx.List(placed[Placement.STEP])  # the compiled step's: train these
        self.output_stages = nnx.List(placed[Placement.OUTPUT])
        self._sharding = None if config.mesh is None else batch_sharding(config.mesh, config.data_axes)
        if self._sharding is not None:
            check_divisible(self._sharding, config.batch_size)
        self.plan = make_plan(source, placed, batch_size=config.batch_size,
                              batches_per_step=config.batches_per_step, sharded=self._sharding is not None)
        self._position = Position()  # the runtime state: replaced, never shared, by each new owner

    def __rshift__(self, stage: Any) -> "Pipeline":
        stages = [*self.host_stages, *self.stages, *self.output_stages, stage]
        return Pipeline(self.source, stages, **{f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)})

    @property
    def batch_size(self) -> int:
        return self.config.batch_size

    @property
    def batches_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    # -- state ------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Position (batches consumed), the sampler settings and the operators' variables.

        A few hundred bytes plus the operators' own arrays; never any data.
        """
        config, position = self.sampler.config, self._position
        return {
            "epoch": position.epoch,
            "batch_index": position.batch_index,
            "record_offset": position.record_offset,
            "sampler": {name: getattr(config, name) for name in _FINGERPRINT},
            "operators": {
                "/".join(map(str, path)): np.asarray(var.get_value())
                for path, var in nnx.to_flat_state(nnx.state(self.stages))
            },
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Resumes at ``state``'s position; raises naming what differs if it is foreign."""
        if not isinstance(state, dict) or not {"epoch", "batch_index", "sampler", "operators"} <= set(state):
            raise ValueError(
                "set_state needs a dict from Pipeline.get_state() with keys "
                f"epoch, batch_index, sampler, operators; got {state!r:.200}"
            )
        mine = self.get_state()
        diffs = [
            f"{k}: saved {state['sampler'].get(k)!r} != this pipeline's {v!r}"
            for k, v in mine["sampler"].items()
            if state["sampler"].get(k) != v
        ]
        saved_ops, my_ops = state["operators"], mine["operators"]
        if set(saved_ops) != set(my_ops):
            diffs.append(f"operator variables: saved {sorted(saved_ops)} != this pipeline's {sorted(my_ops)}")
        else:
            diffs += [
                f"operator variable {k}: saved shape {np.shape(saved_ops[k])} != {np.shape(v)}"
                for k, v in my_ops.items()
                if np.shape(saved_ops[k]) != np.shape(v)
            ]
        epoch, index = state["epoch"], state["batch_index"]
        if not (isinstance(epoch, int) and epoch >= 0 and isinstance(index, int)
                and 0 <= index < self.batches_per_epoch):
            diffs.append(f"position: epoch={epoch!r}, batch_index={index!r} is outside "
                         f"[0, {self.batches_per_epoch}) batches per epoch")
        offset = state.get("record_offset", 0)
        if not (isinstance(offset, int) and 0 <= offset < self.batch_size):
            diffs.append(f"record_offset must be an int in [0, {self.batch_size}), got {offset!r}")
        elif offset and self.plan.output_size is None:
            diffs.append(f"the state is {offset} records into a batch (saved from a pipeline ending "
                         "in Rebatch); restore it into a pipeline that ends in Rebatch too")
        if diffs:
            raise ValueError("the state comes from a different pipeline: " + "; ".join(diffs))
        for path, var in nnx.to_flat_state(nnx.state(self.stages)):
            var.set_value(np.asarray(saved_ops["/".join(map(str, path))], dtype=np.asarray(var.get_value()).dtype))
        self._position = Position(epoch, index, offset)

    def _take_position(self) -> Position:
        """A new position object for a new owner, continuing from the current one."""
        self._position = self._position.copy()
        return self._position

    # -- iteration --------------------------------------------------------------------------
    def _chunks(self, position: Position, times: StageTimes, batches_per_step: int | None = None,
                transfer: Callable | None = None) -> Iterator[HostChunk]:
        return host_chunks(self.sampler, self.source, list(self.host_stages), (position.epoch, position.batch_index),
                           self.config.num_epochs, times, batches_per_step, transfer)

    def _transfer(self) -> Callable:
        sharding = self._sharding
        return to_device if sharding is None else (lambda arrays: to_global(arrays, sharding))

    def _step(self, batches_per_step: int | None = None) -> tuple[Callable, list]:
        graphdef, treedef, leaves = split_stages(self.stages)
        return compile_step(graphdef, treedef, tuple(s.name for s in self.stages), batches_per_step), leaves

    def compiled_cost(self) -> dict[str, float]:
        """XLA's cost analysis of the compiled step for one batch at the current position:
        ``flops``, ``bytes_accessed`` and ``transcendentals`` per batch.

        Gathers that batch and compiles the single-batch step for its shape; the position
        does not move.
        """
        items = self._chunks(self._position, StageTimes())
        item = next(items)
        items.close()
        step, leaves = self._step()
        analysis = step.lower(leaves, *item.arrays).compile().cost_analysis()
        if isinstance(analysis, (list, tuple)):  # older jax: one dict per computation
            analysis = analysis[0] if analysis else {}
        if not analysis or "bytes accessed" not in analysis:
            raise RuntimeError(f"XLA gave no cost analysis for this pipeline's step: {analysis!r}")
        return {  # XLA leaves out the counts that are zero (a pure gather has no "flops")
            "flops": float(analysis.get("flops", 0.0)),
            "bytes_accessed": float(analysis["bytes accessed"]),
            "transcendentals": float(analysis.get("transcendentals", 0.0)),
        }

    def inputs(self) -> Iterator[tuple[Batch, jax.Array, jax.Array]]:
        """``(batch, record_ids, epoch)`` before the step stages, advancing the position like
        ``iter``: to train the stages' parameters, apply them yourself with
        :func:`~datarax.dag.run_stages` inside ``nnx.grad``."""
        times, position = StageTimes(), self._take_position()
        return PipelineIterator(self._chunks(position, times, None, self._transfer()), unstack_arrays, position,
                                self.batches_per_epoch, prefetch=self.config.prefetch,
                                threaded=self.config.prefetch_thread, times=times)

    def scan(self, train_step: Callable[[Any, Batch], tuple[Any, Any]], carry: Any, num_batches: int) -> tuple[Any, Any]:
        """Runs the next ``num_batches`` batches through the stages and
        ``train_step(carry, batch) -> (carry, output)`` fused in one ``jax.lax.scan``: one XLA
        program, one dispatch. Returns the final carry and the stacked outputs; the position
        advances by ``num_batches``. ``carry`` is a pytree (e.g. ``nnx.state`` of a model); the
        stages' variables are read once, at the start.
        """
        check_int("num_batches", num_batches, minimum=1)
        if self.output_stages:
            raise ValueError(f"scan runs the compiled step's batches; remove {self.output_stages[0].name}")
        if self._sharding is not None:
            raise ValueError("scan stacks host batches; it does not run over a mesh")
        position = self._take_position()
        items = self._chunks(position, StageTimes())
        chunk = [item for _, item in zip(range(num_batches), items)]
        items.close()
        if len(chunk) < num_batches:
            raise ValueError(f"scan of {num_batches} batches: the stream ends after {len(chunk)}")
        stacked = jax.tree.map(lambda *xs: np.stack(xs), *[item.arrays for item in chunk])
        graphdef, treedef, leaves = split_stages(self.stages)
        out = compile_scan(train_step, graphdef, treedef)(leaves, carry, stacked)
        epoch, index = chunk[-1].positions[-1]
        position.epoch, position.batch_index = (epoch + 1, 0) if index + 1 == self.batches_per_epoch else (epoch, index + 1)
        return out

    def __iter__(self) -> Iterator[Batch]:
        times, plan, config = StageTimes(), self.plan, self.config
        # Frozen stages (only record keys): the state cannot change while iterating, so it is
        # read once and steps are dispatched ahead. Live stages: each step runs in next() with
        # the state as it is then, so training between batches shows.
        is_live = live(self.stages)
        per_step = None if is_live else plan.batches_per_step
        step, frozen = self._step(per_step)
        needs_transfer = is_live or self._sharding is not None
        position = self._take_position()
        chunks = self._chunks(position, times, per_step, self._transfer() if needs_transfer else None)
        if is_live:
            stages = self.stages
            produce = unstack_arrays
            finish = step_on_demand(step, lambda: jax.tree.leaves(nnx.state(stages)), times, config.time_stages)
        else:
            produce, finish = dispatch_ahead(step, frozen, times, config.time_stages), None
        # With chunks, "ahead" means a whole chunk beyond the one being handed out: the next
        # chunk is dispatched as the current one starts, so XLA computes it (on its own thread)
        # while the caller takes the current chunk's batches.
        ahead = max(config.prefetch, per_step) if per_step and config.prefetch else config.prefetch
        return PipelineIterator(chunks, produce, position, self.batches_per_epoch, prefetch=ahead,
                                threaded=config.prefetch_thread, times=times, finish=finish,
                                output_stages=list(self.output_stages), output_size=plan.output_size)


def from_source(source: DataSourceModule, batch_size: int, **options: Any) -> Pipeline:
    """Starts a pipeline graph at ``source``; extend it with ``>> OperatorNode(op)``."""
    return Pipeline(source, [], batch_size=batch_size, **options)
