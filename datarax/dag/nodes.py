"""Nodes of a pipeline graph. Every node is traced into the one compiled step per batch shape.

A node maps ``batch -> batch``; :class:`Parallel` (also spelled ``a | b``) maps a batch to a
tuple of batches, one per path, which a following :class:`Merge` combines. :class:`Branch`
traces both of its paths and picks one per record, so the graph stays one XLA program.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from datarax.core.config import check_choice, check_field
from datarax.core.module import DataraxModule, HostStage, OperatorModule
from datarax.typing import Batch, Element

Branches = tuple  # a tuple of batches, the output of a Parallel node


class Node(DataraxModule):
    """A stage of the pipeline graph: ``batch -> batch`` inside the compiled step."""

    def __init__(self):
        super().__init__(config=None)

    @property
    def name(self) -> str:
        return type(self).__name__

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        raise NotImplementedError

    def __or__(self, other: Any) -> "Parallel":
        mine = list(self.paths) if isinstance(self, Parallel) else [self]
        return Parallel([*mine, other])


def as_node(stage: Any) -> Node:
    """A Node for ``stage``: a Node, an OperatorModule, a callable nnx.Module or a list
    of those (run in sequence)."""
    if isinstance(stage, Node):
        return stage
    if isinstance(stage, OperatorModule):
        return OperatorNode(stage)
    if isinstance(stage, (list, tuple)):
        return Sequential(stage)
    if isinstance(stage, nnx.Module) and callable(stage) and not isinstance(stage, HostStage):
        return ModuleNode(stage)
    raise TypeError(
        "a pipeline stage must be a Node, an OperatorModule, a HostStage, a callable "
        f"nnx.Module or a list of those, got {type(stage).__name__}"
    )


def _batch_only(node: str, batch: Any) -> Batch:
    if not isinstance(batch, dict):
        raise TypeError(
            f"{node} takes one batch, got {type(batch).__name__} (a Parallel node's "
            "branches must be combined by a Merge first)"
        )
    return batch


class OperatorNode(Node):
    """Runs one :class:`OperatorModule` on the batch."""

    def __init__(self, operator: OperatorModule):
        if not isinstance(operator, OperatorModule):
            raise TypeError(
                f"OperatorNode wraps an OperatorModule, got {type(operator).__name__}"
            )
        super().__init__()
        self.operator = operator

    @property
    def name(self) -> str:
        return f"OperatorNode({type(self.operator).__name__})"

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        return self.operator.apply_batch(_batch_only(self.name, batch), record_ids, epoch)


class ModuleNode(Node):
    """Runs a plain ``nnx.Module`` as ``module(batch) -> batch`` (no record keys)."""

    def __init__(self, module: nnx.Module):
        if not isinstance(module, nnx.Module) or not callable(module):
            raise TypeError(f"ModuleNode wraps a callable nnx.Module, got {type(module).__name__}")
        super().__init__()
        self.module = module

    @property
    def name(self) -> str:
        return f"ModuleNode({type(self.module).__name__})"

    def apply_batch(self, batch: Batch, record_ids: jax.Array, epoch: jax.Array) -> Batch:
        return self.module(batch)


class Sequential(Node):
    """Runs its nodes one after the other."""

    def __init__(self, nodes: Sequence[Any]):
        super().__init__()
        if not nodes:
            raise ValueError("Sequential needs at least one node")
        self.nodes = nnx.List([as_node(n) for n in nodes])

    def apply_batch(self, batch, record_ids, epoch):
        for node in self.nodes:
            batch = node.apply_batch(batch, record_ids, epoch)
        return batch


class Parallel(Node):
    """Runs every path on the same batch; outputs a tuple of batches for a :class:`Merge`."""

    def __init__(self, paths: Sequence[Any]):
        super().__init__()
        if len(paths) < 2:
            raise ValueError(f"Parallel needs at least two paths, got {len(paths)}")
        self.paths = nnx.List([as_node(p) for p in paths])

    @property
    def name(self) -> str:
        return f"Parallel({', '.join(p.name for p in self.paths)})"

    def apply_batch(self, batch, record_ids, epoch) -> Branches:
        batch = _batch_only(self.name, batch)
        return tuple(path.apply_batch(batch, record_ids, epoch) for path in self.paths)


MERGE_MODES = ("mean", "sum", "concat", "stack")


class Merge(Node):
    """Combines the batches of a :class:`Parallel` node field by field.

    Floating-point fields present in several branches are combined: ``mean``/``sum``
    elementwise, ``concat`` along ``axis`` (default: last), ``stack`` on a new ``axis``
    (default: 1, right after the batch axis). Fields only one branch has are taken from it.

    Integer and bool fields (labels, masks, record ids) are never averaged or summed: with
    ``mean``/``sum`` they must be the same in every branch that has them (a branch passed them
    through untouched) and are passed through; a branch that changed one fails at trace time
    naming the field. With ``concat``/``stack`` they are taken from the first branch.
    """

    def __init__(self, mode: str = "mean", *, axis: int | None = None):
        super().__init__()
        check_choice("Merge mode", mode, MERGE_MODES)
        if axis is not None:
            if not isinstance(axis, int) or isinstance(axis, bool):
                raise ValueError(f"Merge axis must be an int, got {axis!r}")
            if mode in ("mean", "sum"):
                raise ValueError(f"Merge({mode!r}) takes no axis, got axis={axis}")
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
        if self.mode == "concat":
            return jnp.concatenate(values, axis=-1 if self.axis is None else self.axis)
        return jnp.stack(values, axis=1 if self.axis is None else self.axis)

    def apply_batch(self, batches, record_ids, epoch) -> Batch:
        if not isinstance(batches, tuple):
            raise TypeError(f"{self.name} follows a Parallel node, got one {type(batches).__name__}")
        out: Batch = {}
        for key in dict.fromkeys(k for b in batches for k in b):
            values = [b[key] for b in batches if key in b]
            floating = jnp.issubdtype(jnp.result_type(values[0]), jnp.floating)
            if floating and len(values) > 1:
                out[key] = self._combine(values)
            else:
                if self.mode in ("mean", "sum") and not _same(values):
                    raise ValueError(
                        f"{self.name}: field {key!r} ({jnp.result_type(values[0])}) differs between branches; "
                        f"{self.mode} combines floating-point fields only and passes others through, "
                        "so every branch must leave it unchanged (or cast it to float first)"
                    )
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

    Both paths run on the whole batch and the results are selected per record (``jnp.where``),
    so there is no data-dependent control flow and gradients flow through both paths. The
    paths must produce the same fields with the same shapes.
    """

    def __init__(self, condition: Callable[[Element], Any], true_path: Any, false_path: Any):
        super().__init__()
        if not callable(condition):
            raise TypeError(f"Branch condition must be callable, got {condition!r}")
        self.condition = condition
        self.true_path = as_node(true_path)
        self.false_path = as_node(false_path)

    @property
    def name(self) -> str:
        return f"Branch({self.true_path.name}, {self.false_path.name})"

    def apply_batch(self, batch, record_ids, epoch) -> Batch:
        batch = _batch_only(self.name, batch)
        take = jax.vmap(lambda data: jnp.asarray(self.condition(Element(data)), bool))(batch)
        if take.shape != record_ids.shape:
            raise ValueError(f"{self.name}: condition must return one bool per record, got shape {take.shape[1:]}")
        yes = self.true_path.apply_batch(batch, record_ids, epoch)
        no = self.false_path.apply_batch(batch, record_ids, epoch)
        if jax.tree.structure(yes) != jax.tree.structure(no) or any(
            a.shape != b.shape for a, b in zip(jax.tree.leaves(yes), jax.tree.leaves(no))
        ):
            shapes = lambda b: {k: tuple(v.shape) for k, v in b.items()}  # noqa: E731
            raise ValueError(f"{self.name}: paths disagree: {shapes(yes)} vs {shapes(no)}")
        select = lambda a, b: jnp.where(take.reshape(take.shape + (1,) * (a.ndim - 1)), a, b)  # noqa: E731
        return jax.tree.map(select, yes, no)


class SplitField(Node):
    """Splits ``field`` along ``axis`` into new fields ``into`` (equal parts, or ``sizes``).

    E.g. ``SplitField("image", ("rgb", "alpha"), sizes=(3, 1))`` on an RGBA image.
    The original field is kept only with ``keep=True``.
    """

    def __init__(self, field: str, into: Sequence[str], *, sizes: Sequence[int] | None = None,
                 axis: int = -1, keep: bool = False):
        super().__init__()
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
        batch = _batch_only(self.name, batch)
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
