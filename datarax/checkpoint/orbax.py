"""Orbax integration: pipeline state saved and restored by a ``CheckpointManager`` next to
model and optimizer state, in the same step directory and under the same retention.

    manager.save(step, args=ocp.args.Composite(model=ocp.args.StandardSave(nnx.state(model)),
                                               pipeline=PipelineSave(pipeline)))
    restored = manager.restore(step, args=ocp.args.Composite(
        model=ocp.args.StandardRestore(abstract), pipeline=PipelineRestore(pipeline)))

Each process writes its own shard's position (``process_<i>/``), since a multi-process
pipeline's shards are at their own records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import orbax.checkpoint as ocp

from datarax.checkpoint.files import load_state, save_state


def _process_dir(directory):
    return directory / f"process_{jax.process_index()}"


class PipelineCheckpointHandler(ocp.CheckpointHandler):
    """Writes ``Pipeline.get_state()`` as plain files (see :mod:`datarax.checkpoint.files`)."""

    def save(self, directory, args: "PipelineSave") -> None:
        state = args.pipeline.get_state() if hasattr(args.pipeline, "get_state") else args.pipeline
        save_state(_process_dir(directory), state)

    def restore(self, directory, args: "PipelineRestore | None" = None) -> dict[str, Any]:
        state = load_state(_process_dir(directory))
        if args is not None and args.pipeline is not None:
            args.pipeline.set_state(state)
        return state

    def metadata(self, directory) -> None:
        return None


@ocp.args.register_with_handler(PipelineCheckpointHandler, for_save=True)
@dataclasses.dataclass
class PipelineSave(ocp.args.CheckpointArgs):
    """Saves a ``Pipeline``'s state (or a state dict from ``get_state()``)."""

    pipeline: Any


@ocp.args.register_with_handler(PipelineCheckpointHandler, for_restore=True)
@dataclasses.dataclass
class PipelineRestore(ocp.args.CheckpointArgs):
    """Restores into ``pipeline`` (``set_state``, which fails naming any mismatch) and returns
    the state dict; with ``pipeline=None`` only returns the state."""

    pipeline: Any = None
