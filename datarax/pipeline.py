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
import numpy as np
from flax import nnx

from datarax.core.config import check_int
from datarax.core.module import DataraxModule, HostBox, HostStage, RecordKey
from datarax.dag.executor import compile_step, host_chunks, run_stages, to_device
from datarax.dag.iterator import BatchIterator, dispatch_ahead, step_on_demand, unstack_arrays
from datarax.dag.monitor import StageTimes
from datarax.dag.cache import Cache
from datarax.dag.nodes import Node, as_node
from datarax.dag.rebatch import Rebatch, RebatchIterator
from datarax.distributed.sharding import batch_sharding, check_divisible, to_global
from datarax.samplers.sampler import IndexSampler, SamplerConfig
from datarax.sources.base import DataSourceModule
from datarax.typing import Batch

# Sampler settings a saved state must agree with (num_epochs may change between runs).
_FINGERPRINT = ("num_records", "batch_size", "shuffle", "seed", "shard_index", "shard_count", "drop_remainder")
# Automatic chunking: batches under _SMALL_BATCH_BYTES, whose work is comparable to the fixed
# per-call costs of NumPy indexing and jit dispatch (~0.1 ms), are grouped to about
# _CHUNK_BYTES per step. Compile time grows with the step's outputs (one per field and batch),
# so a chunk has at most _MAX_BATCHES_PER_STEP batches and _MAX_ARRAYS_PER_STEP arrays.
# Larger batches run one per step: chunking them saves nothing and compiles slower.
_SMALL_BATCH_BYTES = 256 << 10
_CHUNK_BYTES = 2 << 20
_MAX_BATCHES_PER_STEP = 16
_MAX_ARRAYS_PER_STEP = 32


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

    Each ``iter(pipeline)`` continues from the current position, keeping ``prefetch``
    batches produced ahead of the caller — inline in ``next()``, or in a background thread
    with ``prefetch_thread=True`` (for sources whose reads block on I/O).
    ``batches_per_step`` batches are gathered and run through the compiled step together
    (``None``: batches under 256 KiB are grouped to about 2 MiB, at most 16 batches and 32
    arrays per step; always 1 when the stages have trainable variables, over a mesh, for a
    ``batch_dependent`` source, or after a host stage other than Cache).
    Outputs are the same for any chunking: per-record keys, and every stage sees one batch.
    ``get_state``/``set_state`` save and restore the position; see :class:`SamplerConfig`
    for ``shuffle``, ``seed``, sharding, ``drop_remainder`` and ``num_epochs``. Every iterator
    counts its time per stage (``stage_times()``); ``time_stages=True`` also waits for each
    compiled step so the step's own time is counted. With a ``mesh``, each batch enters the
    step as a global array sharded over ``data_axes`` (see :mod:`datarax.distributed`),
    ``batch_size`` being this process's share.
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
        prefetch_thread: bool = False,
        batches_per_step: int | None = None,
        time_stages: bool = False,
        mesh: jax.sharding.Mesh | None = None,
        data_axes: str | Sequence[str] = "data",
    ):
        super().__init__(config=None)
        if not isinstance(source, DataSourceModule):
            raise TypeError(f"source must be a DataSourceModule, got {type(source).__name__}")
        check_int("prefetch", prefetch, minimum=0)
        if batches_per_step is not None:
            check_int("batches_per_step", batches_per_step, minimum=1)
        for name, flag in (("time_stages", time_stages), ("prefetch_thread", prefetch_thread)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        self._options = dict(
            batch_size=batch_size, shuffle=shuffle, seed=seed, shard_index=shard_index,
            shard_count=shard_count, drop_remainder=drop_remainder, num_epochs=num_epochs,
            prefetch=prefetch, prefetch_thread=prefetch_thread, batches_per_step=batches_per_step,
            time_stages=time_stages, mesh=mesh, data_axes=data_axes,
        )
        sampler_options = {k: v for k, v in self._options.items() if k in SamplerConfig.__dataclass_fields__}
        self.sampler = IndexSampler(SamplerConfig(num_records=len(source), **sampler_options))
        self.source = source
        self._recipe = HostBox(stages=list(stages))  # what `>>` extends
        host, device, rebatch = _split_stages(stages)
        self._rebatch = HostBox(size=None if rebatch is None else rebatch.size)
        self.host_stages = nnx.List(host)
        self.stages = nnx.List(device)
        # Plain ints, not nnx Variables: updated after every batch, read by get_state().
        self._position = HostBox(epoch=0, batch_index=0, record_offset=0)
        self._compiled = HostBox(scans={}, batches_per_step=None)
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
    def _split(self) -> tuple[nnx.GraphDef, Any, list]:
        graphdef, state = nnx.split(self.stages)
        leaves, treedef = jax.tree.flatten(state)
        return graphdef, treedef, leaves

    def _chunks(self, times: StageTimes, batches_per_step: int | None = None, transfer=None):
        return host_chunks(
            self.sampler, self.source, list(self.host_stages),
            (self._position.epoch, self._position.batch_index), self._options["num_epochs"], times,
            batches_per_step, transfer,
        )

    def _batches_per_step(self, live: bool) -> int | None:
        """Batches per compiled step for this iterator; ``None`` runs unstacked single batches."""
        if (live or self._sharding.value is not None or self.source.batch_dependent
                or any(not isinstance(s, Cache) for s in self.host_stages)):
            return None
        chosen = self._options["batches_per_step"]
        if chosen is None:
            if self._compiled.batches_per_step is None:  # the size of one record, read once
                record = self.source.first_record()
                batch_bytes = self.batch_size * sum(np.asarray(v).nbytes for v in record.values())
                chunk = _CHUNK_BYTES // max(batch_bytes, 1) if batch_bytes <= _SMALL_BATCH_BYTES else 1
                cap = min(_MAX_BATCHES_PER_STEP, _MAX_ARRAYS_PER_STEP // max(len(record), 1))
                self._compiled.batches_per_step = int(np.clip(chunk, 1, max(cap, 1)))
            chosen = self._compiled.batches_per_step
        return None if chosen == 1 else chosen

    def compiled_cost(self) -> dict[str, float]:
        """XLA's cost analysis of the compiled step for one batch at the current position:
        ``flops``, ``bytes_accessed`` and ``transcendentals`` per batch.

        Gathers that batch and compiles the single-batch step for its shape; the position
        does not move.
        """
        items = self._chunks(StageTimes())
        item = next(items)
        items.close()
        graphdef, treedef, leaves = self._split()
        step = compile_step(graphdef, treedef, tuple(node.name for node in self.stages))
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

    def _transfer(self) -> Callable:
        sharding = self._sharding.value
        return to_device if sharding is None else (lambda arrays: to_global(arrays, sharding))

    def inputs(self) -> Iterator[tuple[Batch, jax.Array, jax.Array]]:
        """``(batch, record_ids, epoch)`` before the stages, advancing the position like
        ``iter``: to train the stages' parameters, apply them yourself with
        :func:`~datarax.dag.executor.run_stages` inside ``nnx.grad``."""
        times = StageTimes()
        return BatchIterator(self._chunks(times, None, self._transfer()), unstack_arrays, self._consumed,
                             prefetch=self._options["prefetch"], threaded=self._options["prefetch_thread"],
                             times=times)

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
        if self._sharding.value is not None:
            raise ValueError("scan stacks host batches; it does not run over a mesh")
        items = self._chunks(StageTimes())
        chunk = [item for _, item in zip(range(num_batches), items)]
        items.close()
        if len(chunk) < num_batches:
            raise ValueError(f"scan of {num_batches} batches: the stream ends after {len(chunk)}")
        stacked = jax.tree.map(lambda *xs: np.stack(xs), *[item.arrays for item in chunk])
        graphdef, treedef, leaves = self._split()
        key = (train_step, graphdef, treedef)
        if key not in self._compiled.scans:
            def fused(leaves, carry, stacked):
                stages = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
                return jax.lax.scan(lambda c, xs: train_step(c, run_stages(stages, *xs)), carry, stacked)

            self._compiled.scans[key] = jax.jit(fused)
        out = self._compiled.scans[key](leaves, carry, stacked)
        self._consumed(*chunk[-1].positions[-1])
        return out

    def __iter__(self) -> Iterator[Batch]:
        times = StageTimes()
        stages = self.stages
        graphdef, treedef, frozen = self._split()
        # Only record keys: the state cannot change while iterating, so read it once and
        # dispatch steps ahead. Otherwise (parameters, user variables) run each step in next()
        # with the state as it is then, so training between batches shows.
        live = len(nnx.to_flat_state(nnx.state(stages, nnx.Not(RecordKey)))) > 0
        per_step = self._batches_per_step(live)
        step = compile_step(graphdef, treedef, tuple(node.name for node in stages), per_step)
        wait = self._options["time_stages"]
        needs_transfer = live or self._sharding.value is not None
        chunks = self._chunks(times, per_step, self._transfer() if needs_transfer else None)
        if live:
            produce = unstack_arrays
            finish = step_on_demand(step, lambda: jax.tree.leaves(nnx.state(stages)), times, wait)
        else:
            produce, finish = dispatch_ahead(step, frozen, times, wait), None
        # With chunks, "ahead" means a whole chunk beyond the one being handed out: the next
        # chunk is dispatched as the current one starts, so XLA computes it (on its own thread)
        # while the caller takes the current chunk's batches.
        prefetch = self._options["prefetch"]
        ahead = max(prefetch, per_step) if per_step and prefetch else prefetch
        options = dict(prefetch=ahead, threaded=self._options["prefetch_thread"], times=times, finish=finish)
        if self._rebatch.size is None:
            return BatchIterator(chunks, produce, self._consumed, **options)
        origins = collections.deque()
        inner = BatchIterator(chunks, produce, lambda *where: origins.append(where), **options)
        return RebatchIterator(inner, self._rebatch.size, self._position.record_offset, origins,
                               self._set_position, self._after)


def from_source(source: DataSourceModule, batch_size: int = 32, **options: Any) -> Pipeline:
    """Starts a pipeline graph at ``source``; extend it with ``>> OperatorNode(op)``."""
    return Pipeline(source, [], batch_size=batch_size, **options)
