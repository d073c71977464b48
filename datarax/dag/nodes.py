"""Graph nodes: the one way to compose stages. Every node is a :class:`~datarax.core.Stage`
traced into the compiled step.

A node maps ``batch -> batch``; :class:`Parallel` (also spelled ``a | b``) maps a batch to a
tuple of batches, one per path, which a following :class:`Merge` combines.
:class:`Branch` traces both of its paths and picks one per record, so the graph stays one XLA
program.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from datarax.core.config import check_choice, check_field
from datarax.core.select import check_same_fields, select_per_record
from datarax.core.stage import Placement, Stage, apply_stage
from datarax.dag.step import check_stage_output
from datarax.typing import Batch, Element


def as_stage(stage: Any) -> Stage:
    """``stage`` as a :class:`Stage`: itself, a list of stages run in sequence
    (:class:`Sequential`), or a plain callable ``nnx.Module`` (:class:`ModuleNode`)."""
    if isinstance(stage, Stage):
        return stage
    if isinstance(stage, (list, tuple)):
        return Sequential(stage)
    if isinstance(stage, nnx.Module) and callable(stage):
        return ModuleNode(stage)
    raise TypeError(
        "a pipeline stage must be a Stage (an operator, a graph node, Cache, Rebatch or a host stage), "
        f"a callable nnx.Module or a list of those, got {type(stage).__name__}"
    )


def as_step_stage(stage: Any, where: str) -> Stage:
    """A stage that can run inside a graph node, i.e. inside the compiled step."""
    stage = as_stage(stage)
    if stage.placement is not Placement.STEP:
        raise ValueError(f"{where} runs inside the compiled step; {stage.name} runs {stage.placement.value}")
    return stage


class Node(Stage):
    """A stage of the pipeline graph, inside the compiled step; ``a | b`` runs both in parallel."""

    def __or__(self, other: Any) -> "Parallel":
        return Parallel([self, other])


class OperatorNode(Node):
    """Runs one operator (any stage of the compiled step) as a graph node."""

    def __init__(self, operator: Stage):
        if not isinstance(operator, Stage):
            raise TypeError(f"OperatorNode wraps an operator, got {type(operator).__name__}")
        self.operator = as_step_stage(operator, "OperatorNode")

    @property
    def name(self) -> str:
        return f"OperatorNode({self.operator.name})"

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        return apply_stage(self.operator, batch, record_ids, epoch)


class ModuleNode(Node):
    """Runs a plain ``nnx.Module`` as ``module(batch) -> batch`` (no record keys)."""

    def __init__(self, module: nnx.Module):
        if not isinstance(module, nnx.Module) or not callable(module):
            raise TypeError(f"ModuleNode wraps a callable nnx.Module, got {type(module).__name__}")
        self.module = module

    @property
    def name(self) -> str:
        return f"ModuleNode({type(self.module).__name__})"

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        return self.module(batch)


class Sequential(Node):
    """Runs its stages one after the other (a list of stages is one too)."""

    def __init__(self, stages: Sequence[Any]):
        if not stages:
            raise ValueError("Sequential needs at least one stage")
        self.stages = nnx.List([as_step_stage(s, "Sequential") for s in stages])

    @property
    def name(self) -> str:
        return f"Sequential({', '.join(s.name for s in self.stages)})"

    def apply_batch(self, batch, record_ids, epoch):
        for stage in self.stages:
            batch = apply_stage(stage, batch, record_ids, epoch)
            check_stage_output(stage.name, batch, record_ids.shape[0])
        return batch


class Parallel(Node):
    """Runs every path on the same batch; outputs a tuple of batches for a ``Merge``."""

    def __init__(self, paths: Sequence[Any]):
        if len(paths) < 2:
            raise ValueError(f"Parallel needs at least two paths, got {len(paths)}")
        self.paths = nnx.List([as_step_stage(p, "Parallel") for p in paths])

    def __or__(self, other: Any) -> "Parallel":
        return Parallel([*self.paths, other])

    @property
    def name(self) -> str:
        return f"Parallel({', '.join(p.name for p in self.paths)})"

    def apply_batch(self, batch, record_ids, epoch) -> tuple:
        return tuple(apply_stage(path, batch, record_ids, epoch) for path in self.paths)


MERGE_MODES = ("mean", "sum", "weighted", "concat", "stack", "union")


class Merge(Node):
    """Combines the batches of a :class:`~datarax.dag.nodes.Parallel` node field by field.

    Floating-point fields present in several branches are combined: ``mean``/``sum``
    elementwise; ``weighted`` as ``sum_i softmax(logits)_i * branch_i``, the logits an
    ``nnx.Param`` (learnable) initialised from ``weights`` (one per branch); ``concat`` along
    ``axis`` (default: last); ``stack`` on a new ``axis`` (default: 1, right after the batch
    axis). ``union`` combines nothing: each branch adds its own fields (e.g. several feature
    extractors), and a field several branches hold must be the same in all of them. Fields
    only one branch has are taken from it.

    Integer and bool fields (labels, masks, record ids) are never averaged or summed: with
    ``mean``/``sum``/``weighted`` they must be the same in every branch that has them (a
    branch passed them through untouched) and are passed through; a branch that changed one
    fails at trace time naming the field. With ``concat``/``stack`` they are taken from the
    first branch.
    """

    accepts_branches = True

    def __init__(self, mode: str = "mean", *, axis: int | None = None, weights: Sequence[float] | None = None):
        check_choice("Merge mode", mode, MERGE_MODES)
        if axis is not None:
            if not isinstance(axis, int) or isinstance(axis, bool):
                raise ValueError(f"Merge axis must be an int, got {axis!r}")
            if mode not in ("concat", "stack"):
                raise ValueError(f"Merge({mode!r}) takes no axis, got axis={axis}")
        if (mode == "weighted") != (weights is not None):
            raise ValueError(f"Merge weights go with mode 'weighted' (one positive weight per branch); "
                             f"got mode={mode!r}, weights={weights!r}")
        if weights is not None:
            weights = list(weights)
            if len(weights) < 2 or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w <= 0 for w in weights):
                raise ValueError(f"Merge weights must be two or more positive numbers, got {weights!r}")
            self.logits = nnx.Param(jnp.log(jnp.asarray(weights, jnp.float32)))
        self.mode = mode
        self.axis = axis

    @property
    def name(self) -> str:
        return f"Merge({self.mode})"

    def _combine(self, values: list[jax.Array]) -> jax.Array:
        if self.mode == "mean":
            return sum(values[1:], values[0]) / len(values)
        if self.mode == "sum":
            return sum(values[1:], values[0])
        if self.mode == "weighted":
            weights = jax.nn.softmax(self.logits[...])
            return sum(weights[i] * v for i, v in enumerate(values))
        if self.mode == "concat":
            return jnp.concatenate(values, axis=-1 if self.axis is None else self.axis)
        return jnp.stack(values, axis=1 if self.axis is None else self.axis)

    def apply_batch(self, batches, record_ids, epoch) -> Batch:
        if self.mode == "weighted" and len(batches) != self.logits.shape[0]:
            raise ValueError(f"{self.name} has {self.logits.shape[0]} weights for {len(batches)} branches")
        out: Batch = {}
        for key in dict.fromkeys(k for b in batches for k in b):
            values = [b[key] for b in batches if key in b]
            floating = jnp.issubdtype(jnp.result_type(values[0]), jnp.floating)
            if self.mode == "weighted" and floating and len(values) != len(batches):
                raise ValueError(f"{self.name}: field {key!r} is in {len(values)} of {len(batches)} branches; "
                                 "a weighted merge needs it in every branch")
            if floating and len(values) > 1 and self.mode != "union":
                out[key] = self._combine(values)
            else:
                if self.mode in ("mean", "sum", "weighted", "union") and not _same(values):
                    rule = ("every branch that has a field must leave it as the others do" if self.mode == "union" else
                            f"{self.mode} combines floating-point fields only and passes others through, so every "
                            "branch must leave it unchanged (or cast it to float first)")
                    raise ValueError(f"{self.name}: field {key!r} ({jnp.result_type(values[0])}) differs "
                                     f"between branches; {rule}")
                out[key] = values[0]
        return out


def _same(values: list[Any]) -> bool:
    """The branches' values are one array (passed through untouched), or equal concrete arrays."""
    first = values[0]
    if all(v is first for v in values):
        return True
    if any(isinstance(v, jax.core.Tracer) for v in values):
        return False
    return all(v.shape == first.shape and bool(jnp.array_equal(v, first)) for v in values)


class Branch(Node):
    """Per record, ``true_path`` where ``condition(element)`` holds, else ``false_path``.

    Both paths run on the whole batch and the results are selected per record, so there is no
    data-dependent control flow and gradients flow through both paths. The paths must produce
    the same fields with the same shapes.
    """

    def __init__(self, condition: Callable[[Element], Any], true_path: Any, false_path: Any):
        if not callable(condition):
            raise TypeError(f"Branch condition must be callable, got {condition!r}")
        self.condition = condition
        self.true_path = as_step_stage(true_path, "Branch")
        self.false_path = as_step_stage(false_path, "Branch")

    @property
    def name(self) -> str:
        return f"Branch({self.true_path.name}, {self.false_path.name})"

    def apply_batch(self, batch, record_ids, epoch) -> Batch:
        take = jax.vmap(lambda data: jnp.asarray(self.condition(Element(data)), bool))(batch)
        if take.shape != record_ids.shape:
            raise ValueError(f"{self.name}: condition must return one bool per record, got shape {take.shape[1:]}")
        paths = [apply_stage(path, batch, record_ids, epoch) for path in (self.false_path, self.true_path)]
        check_same_fields(self.name, paths)
        return select_per_record(take.astype(jnp.int32), paths)


class SplitField(Node):
    """Splits ``field`` along ``axis`` into new fields ``into`` (equal parts, or ``sizes``).

    E.g. ``SplitField("image", ("rgb", "alpha"), sizes=(3, 1))`` on an RGBA image.
    The original field is kept only with ``keep=True``.
    """

    def __init__(self, field: str, into: Sequence[str], *, sizes: Sequence[int] | None = None,
                 axis: int = -1, keep: bool = False):
        check_field("field", field)
        into = tuple(into)
        if len(into) < 2 or not all(isinstance(n, str) and n for n in into):
            raise ValueError(f"SplitField into must name at least two fields, got {into!r}")
        if sizes is not None and (len(sizes) != len(into) or any(int(s) < 1 for s in sizes)):
            raise ValueError(f"sizes must give one positive size per field of {into}, got {sizes!r}")
        if axis == 0:
            raise ValueError("SplitField cannot split the batch axis (axis=0)")
        self.field, self.into, self.axis, self.keep = field, into, axis, keep
        self.sizes = None if sizes is None else tuple(int(s) for s in sizes)

    def apply_batch(self, batch, record_ids, epoch) -> Batch:
        if self.field not in batch:
            raise KeyError(f"SplitField: no field {self.field!r}; the batch has {sorted(batch)}")
        value = batch[self.field]
        n = value.shape[self.axis]
        if self.sizes is None:
            if n % len(self.into):
                raise ValueError(f"SplitField: axis {self.axis} of {self.field!r} has {n} entries, "
                                 f"not divisible into {len(self.into)} fields")
            cuts = [n // len(self.into) * i for i in range(1, len(self.into))]
        else:
            if sum(self.sizes) != n:
                raise ValueError(f"SplitField: sizes {self.sizes} sum to {sum(self.sizes)}, "
                                 f"axis {self.axis} of {self.field!r} has {n}")
            cuts = [sum(self.sizes[:i]) for i in range(1, len(self.sizes))]
        parts = jnp.split(value, cuts, axis=self.axis)
        out = {k: v for k, v in batch.items() if self.keep or k != self.field}
        return {**out, **dict(zip(self.into, parts))}
