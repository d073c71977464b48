"""Per-record choice between candidate batches, inside the compiled step.

Every candidate is computed on the whole batch and the result is picked per record with
``jnp.where``: no data-dependent control flow, so the step stays one XLA program and gradients
flow through every candidate. ``Branch`` and the random-application operators share it.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from datarax.typing import Batch


def check_same_fields(name: str, candidates: Sequence[Batch]) -> None:
    """The candidates have the same fields with the same shapes and dtypes."""
    shapes = [{k: (tuple(v.shape), jnp.result_type(v)) for k, v in out.items()} for out in candidates]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ValueError(f"{name}: candidates must produce the same fields and shapes, got {shapes}")


def select_per_record(index: jax.Array, candidates: Sequence[Batch]) -> Batch:
    """Per record ``i``, the fields of ``candidates[index[i]]`` (``index``: one int per record)."""
    def pick(*values):
        where = index.reshape(index.shape + (1,) * (values[0].ndim - 1))
        out = values[0]
        for k, value in enumerate(values[1:], start=1):
            out = jnp.where(where == k, value, out)
        return out

    return jax.tree.map(pick, *candidates)
