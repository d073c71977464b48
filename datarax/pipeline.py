"""``Pipeline``: source → sampler → batch gather → one compiled step over all stages.

``from_source(src, batch_size=…) >> OperatorNode(op) >> …`` and
``Pipeline(source=…, stages=[…], batch_size=…)`` build the same object, run by the same
executor (``datarax.dag.executor``).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from datarax.core.config import check_int
from datarax.core.module import DataraxModule, HostBox, HostStage, RecordKey
from datarax.dag.executor import BatchIterator, compile_step, host_batches, run_stages
from datarax.dag.monitor import StageTimes
from datarax.dag.cache import Cache
from datarax.dag.nodes import Node, as_node
from datarax.dag.rebatch import Rebatch, RebatchIterator
from datarax.distributed.sharding import batch_sharding, check_divisible
from datarax.samplers.sampler import IndexSampler, SamplerConfig
from datarax.sources.base import DataSourceModule
from datarax.typing import Batch

# Sampler settings a saved state must agree with (num_epochs may change between runs).
_FINGERPRINT = ("num_records", "batch_size", "shuffle", "seed", "shard_index", "shard_count", "drop_remainder")


def _split_stages(stages: Sequence[Any]) -> tuple[list[HostStage], list[Node], Rebatch | None]:
    host, device = [], []
    rebatch = stages[-1] if stages and isinstance(stages[-1], Rebatch) else None
    if rebatch is not None:
        stages = stages[:-1]
    if any(isinstance(stage, Rebatch) for stage in stages):
        raise ValueError("Rebatch must be the last stage: it regroups the compiled step's output")
    if any(isinstance(stage, Cache) for stage in stages[1:]):
        raise ValueError("Cache must be the first stage: it memoizes per record, right after the source")
    for stage in stages:
        if isinstance(stage, HostStage):
            if device:
                raise ValueError(
                    f"host stage {type(stage).__name__} must come before every operator: "
                    "it runs on the host, before the compiled step"
                )
            host.append(stage)
        else:
            device.append(as_node(stage))
    return host, device, rebatch


class Pipeline(DataraxModule):
    """An iterable of batches (dicts of ``jax.Array``) with a checkpointable position.

    Each ``iter(pipeline)`` continues from the current position, with the host side running
    ``prefetch`` batches ahead in a background thread (0: in the caller's thread).
    ``get_state``/``set_state`` save and restore the position; see :class:`SamplerConfig`
    for ``shuffle``, ``seed``, sharding, ``drop_remainder`` and ``num_epochs``. Every iterator
    counts its time per stage (``stage_times()``); ``time_stages=True`` also waits for each
    compiled step inside ``next()`` so the step's own time is counted. With a ``mesh``, each
    batch enters the step as a global array sharded over ``data_axes`` (see
    :mod:`datarax.distributed`), ``batch_size`` being this process's share.
    """

    def __init__(
        self,
        source: DataSourceModule,
        stages: Sequence[Any] = (),
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        shard_index: int = 0,
        shard_count: int = 1,
        drop_remainder: bool = True,
        num_epochs: int | None = None,
        prefetch: int = 2,
        time_stages: bool = False,
        mesh: jax.sharding.Mesh | None = None,
        data_axes: str | Sequence[str] = "data",
    ):
        super().__init__(config=None)
        if not isinstance(source, DataSourceModule):
            raise TypeError(f"source must be a DataSourceModule, got {type(source).__name__}")
        check_int("prefetch", prefetch, minimum=0)
        if not isinstance(time_stages, bool):
            raise TypeError(f"time_stages must be a bool, got {time_stages!r}")
        self._options = dict(
            batch_size=batch_size, shuffle=shuffle, seed=seed, shard_index=shard_index,
            shard_count=shard_count, drop_remainder=drop_remainder, num_epochs=num_epochs,
            prefetch=prefetch, time_stages=time_stages, mesh=mesh, data_axes=data_axes,
        )
        sampler_options = {k: v for k, v in self._options.items()
                           if k not in ("prefetch", "time_stages", "mesh", "data_axes")}
        self.sampler = IndexSampler(SamplerConfig(num_records=len(source), **sampler_options))
        self.source = source
        self._recipe = HostBox(stages=list(stages))  # what `>>` extends
        host, device, rebatch = _split_stages(stages)
        self._rebatch = HostBox(size=None if rebatch is None else rebatch.size)
        self.host_stages = nnx.List(host)
        self.stages = nnx.List(device)
        # Plain ints, not nnx Variables: updated after every batch, read by get_state().
        self._position = HostBox(epoch=0, batch_index=0, record_offset=0)
        self._compiled = HostBox(step=None, scans={})
        self._sharding = HostBox(value=None if mesh is None else batch_sharding(mesh, data_axes))
        if mesh is not None:
            check_divisible(self._sharding.value, self.batch_size)

    def __rshift__(self, stage: Any) -> "Pipeline":
        return Pipeline(self.source, [*self._recipe.stages, stage], **self._options)

    @property
    def batch_size(self) -> int:
        return self.sampler.config.batch_size

    @property
    def batches_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    # -- state ------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Position (batches consumed), the sampler settings and the operators' variables.

        A few hundred bytes plus the operators' own arrays; never any data.
        """
        config = self.sampler.config
        return {
            "epoch": self._position.epoch,
            "batch_index": self._position.batch_index,
            "record_offset": self._position.record_offset,
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
        elif offset and self._rebatch.size is None:
            diffs.append(f"the state is {offset} records into a batch (saved from a pipeline ending "
                         "in Rebatch); restore it into a pipeline that ends in Rebatch too")
        if diffs:
            raise ValueError("the state comes from a different pipeline: " + "; ".join(diffs))
        for path, var in nnx.to_flat_state(nnx.state(self.stages)):
            var.set_value(np.asarray(saved_ops["/".join(map(str, path))], dtype=np.asarray(var.get_value()).dtype))
        self._set_position(epoch, index, offset)

    def _set_position(self, epoch: int, batch_index: int, record_offset: int = 0) -> None:
        self._position.epoch, self._position.batch_index = int(epoch), int(batch_index)
        self._position.record_offset = int(record_offset)

    def _after(self, epoch: int, batch_index: int) -> tuple[int, int]:
        batch_index += 1
        return (epoch + 1, 0) if batch_index == self.batches_per_epoch else (epoch, batch_index)

    def _consumed(self, epoch: int, batch_index: int) -> None:
        self._set_position(*self._after(epoch, batch_index))

    # -- iteration --------------------------------------------------------------------------
    def _step(self) -> tuple[Callable, list]:
        """The compiled step and the stages' variables as its flat ``leaves`` argument."""
        graphdef, state = nnx.split(self.stages)
        leaves, treedef = jax.tree.flatten(state)
        if self._compiled.step is None:
            self._compiled.step = compile_step(graphdef, treedef, tuple(node.name for node in self.stages))
        return self._compiled.step, leaves

    def compiled_cost(self) -> dict[str, float]:
        """XLA's cost analysis of the compiled step for one batch at the current position:
        ``flops``, ``bytes_accessed`` and ``transcendentals`` per batch.

        Gathers that batch and compiles the step for its shape (cached when iterating already
        did); the position does not move.
        """
        position = (self._position.epoch, self._position.batch_index)
        items = host_batches(self.sampler, self.source, list(self.host_stages), position, None)
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

    def _host_batches(self, times: StageTimes):
        return host_batches(
            self.sampler, self.source, list(self.host_stages),
            (self._position.epoch, self._position.batch_index), self._options["num_epochs"], times,
            self._sharding.value,
        )

    def inputs(self) -> Iterator[tuple[Batch, jax.Array, jax.Array]]:
        """``(batch, record_ids, epoch)`` before the stages, advancing the position like
        ``iter``: to train the stages' parameters, apply them yourself with
        :func:`~datarax.dag.executor.run_stages` inside ``nnx.grad``."""
        times = StageTimes()
        return BatchIterator(self._host_batches(times), lambda leaves, *arrays: arrays, lambda: None,
                             self._consumed, self._options["prefetch"], times)

    def scan(self, train_step: Callable[[Any, Batch], tuple[Any, Any]], carry: Any, num_batches: int) -> tuple[Any, Any]:
        """Runs the next ``num_batches`` batches through the stages and
        ``train_step(carry, batch) -> (carry, output)`` fused in one ``jax.lax.scan``: one XLA
        program, one dispatch. Returns the final carry and the stacked outputs; the position
        advances by ``num_batches``. ``carry`` is a pytree (e.g. ``nnx.state`` of a model); the
        stages' variables are read once, at the start.
        """
        check_int("num_batches", num_batches, minimum=1)
        if self._rebatch.size is not None:
            raise ValueError("scan runs whole batches; remove the final Rebatch stage")
        items = self._host_batches(StageTimes())
        chunk = [item for _, item in zip(range(num_batches), items)]
        items.close()
        if len(chunk) < num_batches:
            raise ValueError(f"scan of {num_batches} batches: the stream ends after {len(chunk)}")
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[item.arrays for item in chunk])
        graphdef, state = nnx.split(self.stages)
        leaves, treedef = jax.tree.flatten(state)
        key = (train_step, graphdef, treedef)
        if key not in self._compiled.scans:
            def fused(leaves, carry, stacked):
                stages = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
                return jax.lax.scan(lambda c, xs: train_step(c, run_stages(stages, *xs)), carry, stacked)

            self._compiled.scans[key] = jax.jit(fused)
        out = self._compiled.scans[key](leaves, carry, stacked)
        self._consumed(chunk[-1].epoch, chunk[-1].batch_index)
        return out

    def __iter__(self) -> Iterator[Batch]:
        times = StageTimes()
        items = self._host_batches(times)
        stages = self.stages
        step, frozen = self._step()
        # Only record keys: the state cannot change while iterating, so read it once. Otherwise
        # (parameters, user variables) read it per batch, so training between batches shows.
        live = len(nnx.to_flat_state(nnx.state(stages, nnx.Not(RecordKey)))) > 0
        stage_state = (lambda: jax.tree.leaves(nnx.state(stages))) if live else (lambda: frozen)
        if self._rebatch.size is None:
            return BatchIterator(items, step, stage_state, self._consumed, self._options["prefetch"],
                                 times, wait_for_step=self._options["time_stages"])
        origins = collections.deque()
        inner = BatchIterator(items, step, stage_state, lambda *where: origins.append(where),
                              self._options["prefetch"], times, wait_for_step=self._options["time_stages"])
        return RebatchIterator(inner, self._rebatch.size, self._position.record_offset, origins,
                               self._set_position, self._after)


def from_source(source: DataSourceModule, batch_size: int = 32, **options: Any) -> Pipeline:
    """Starts a pipeline graph at ``source``; extend it with ``>> OperatorNode(op)``."""
    return Pipeline(source, [], batch_size=batch_size, **options)
