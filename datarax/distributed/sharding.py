"""Multi-device and multi-process batches.

Each process reads its own shard of the index space (``process_shard()`` gives the sampler's
``shard_index``/``shard_count``); its local batch is then assembled into one global
``jax.Array`` sharded over a :class:`jax.sharding.Mesh` along the batch axis, before the
compiled step, so the step runs SPMD over the mesh. On a 2-D ``data × model`` mesh the batch is
split over ``data`` and replicated over ``model`` (or split over both with
``data_axes=("data", "model")``).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def process_shard() -> dict[str, int]:
    """This process's shard of the index space: ``Pipeline(..., **process_shard())``."""
    return {"shard_index": jax.process_index(), "shard_count": jax.process_count()}


def batch_sharding(mesh: Mesh, data_axes: str | Sequence[str] = "data") -> NamedSharding:
    """Sharding of the leading (batch) axis over ``data_axes`` of ``mesh``."""
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    axes = (data_axes,) if isinstance(data_axes, str) else tuple(data_axes)
    unknown = [a for a in axes if a not in mesh.axis_names]
    if unknown or not axes:
        raise ValueError(f"data_axes {axes!r}: {unknown} not among the mesh's axes {mesh.axis_names}")
    return NamedSharding(mesh, PartitionSpec(axes))


def check_divisible(sharding: NamedSharding, local_batch_size: int) -> None:
    spec = sharding.spec[0]
    spec = (spec,) if isinstance(spec, str) else tuple(spec)
    ways = int(np.prod([sharding.mesh.shape[a] for a in spec]))
    if (local_batch_size * jax.process_count()) % ways:
        raise ValueError(f"the global batch ({local_batch_size} x {jax.process_count()} processes) "
                         f"does not split {ways} ways over mesh axes {spec}")


def to_global(tree: Any, sharding: NamedSharding) -> Any:
    """Each process's local rows (NumPy) → global arrays; scalars are replicated."""
    replicated = NamedSharding(sharding.mesh, PartitionSpec())

    def one(value):
        value = np.asarray(value)
        if value.ndim == 0:
            return jax.device_put(value, replicated)
        return jax.make_array_from_process_local_data(sharding, value)

    return jax.tree.map(one, tree)
