"""The one interface every loader implements, and the job it is given."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Iterator, Mapping

import numpy as np

from scenarios import Scenario, Variant, get_scenario


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a loader needs for one benchmark cell.

    ``data`` maps each input field to a ``.npy`` file written once per scenario variant;
    ``cpu_budget`` is the number of worker processes/threads every loader gets.
    """

    scenario_id: str
    variant_name: str
    data: Mapping[str, str]
    seed: int
    cpu_budget: int
    shuffle: bool = True

    @property
    def scenario(self) -> Scenario:
        return get_scenario(self.scenario_id)

    @property
    def variant(self) -> Variant:
        return self.scenario.variant(self.variant_name)

    def arrays(self) -> dict[str, np.ndarray]:
        """The input fields, memory-mapped read-only (pages load as batches touch them)."""
        return {name: np.load(path, mmap_mode="r") for name, path in self.data.items()}


class Adapter(abc.ABC):
    """A data loader under test.

    ``open(job)`` returns a fresh iterator of batches (dicts of arrays with a leading batch
    dimension) that runs forever, epoch after epoch; heavy set-up may be cached on the
    instance and released in ``close()``.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def version(self) -> str:
        """The loader library's version string."""

    def available(self) -> str | None:
        """None when the loader can run here, else the reason it cannot."""
        return None

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        """None when the loader does the scenario's full work, else why it cannot."""
        return None

    @abc.abstractmethod
    def open(self, job: Job) -> Iterator[Mapping[str, Any]]:
        """A fresh iterator of batches for ``job``."""

    def close(self) -> None:
        """Releases what ``open`` cached (worker pools, compiled functions, files)."""
