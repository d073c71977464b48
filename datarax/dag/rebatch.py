"""``Rebatch(size)``: the pipeline's output regrouped into batches of another size, across batch
boundaries, after the compiled step.

The pipeline's position then includes ``record_offset``, the records of the next underlying
batch already handed out, so a checkpoint resumes at the exact record, even into a pipeline
with another ``Rebatch`` size.
"""

from __future__ import annotations

import numpy as np

from datarax.core.config import check_int
from datarax.core.stage import Placement, Stage
from datarax.typing import VALID_FIELD, Batch


class Rebatch(Stage):
    """The last stage of a pipeline: output batches of ``size`` records.

    As a stage it keeps each batch's real rows: padding rows (``valid`` False, from
    ``drop_remainder=False``) trail the real records and are dropped, so every output row is a
    real record (the ``valid`` field is kept, all True); the pipeline then hands the records
    out ``size`` at a time. When a finite stream ends (``num_epochs``), the last batch holds
    the records left over.
    """

    placement = Placement.OUTPUT

    def __init__(self, size: int):
        check_int("Rebatch size", size, minimum=1)
        self.size = size

    @property
    def output_batch_size(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"Rebatch({self.size})"

    def check_upstream(self, source, upstream) -> None:
        if any(stage.output_batch_size is not None for stage in upstream):
            raise ValueError("Rebatch must be the last stage: the output is regrouped once, at the end")

    def apply_batch(self, batch: Batch, record_ids, epoch) -> Batch:
        if VALID_FIELD not in batch:
            return batch
        valid = np.asarray(batch[VALID_FIELD])
        if valid.all():
            return batch
        keep = np.flatnonzero(valid)
        return {k: v[keep] for k, v in batch.items()}
