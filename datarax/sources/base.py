"""The source contract: length, field specs, and a vectorized gather of record ids."""

from __future__ import annotations

import numpy as np

from datarax.core.module import StructuralModule


class DataSourceModule(StructuralModule):
    """A random-access source of records with named fields.

    ``gather(ids)`` returns ``{field: array[len(ids), ...]}`` on the host; it is called once
    per batch with the batch's record ids, never once per record.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def gather(self, record_ids: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError
