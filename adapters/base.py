"""The one interface every loader implements, and the job it is given."""

from __future__ import annotations

import abc
import dataclasses
import importlib
import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Any, Callable, ClassVar, Collection, Iterator, Mapping

import numpy as np

from scenarios import Scenario, Variant, get_scenario

DELIVERIES = ("device", "host")


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a loader needs for one benchmark cell.

    ``data`` maps each input field to a ``.npy`` file written once per scenario variant;
    ``cpu_budget`` is the number of worker processes/threads every loader gets. ``delivery``
    says where a batch counts as delivered: ``"device"``, a dict of ``jax.Array``s on the
    profile's training device (``jax.devices(platform)[0]``, or sharded over the cell's mesh:
    :meth:`sharding`), or ``"host"``, NumPy arrays in host memory.
    ``process_index``/``process_count``: this JAX process's place among the processes that run
    the job together (DIST-3); the loader reads its shard of the records and yields global
    arrays over every process's devices.
    """

    scenario_id: str
    variant_name: str
    data: Mapping[str, str]
    seed: int
    cpu_budget: int
    shuffle: bool = True
    delivery: str = "device"
    platform: str = "cpu"  # the profile's JAX backend: cpu, gpu or tpu
    process_index: int = 0
    process_count: int = 1

    def __post_init__(self):
        if self.delivery not in DELIVERIES:
            raise ValueError(f"delivery {self.delivery!r}; valid: {', '.join(DELIVERIES)}")
        if not 0 <= self.process_index < self.process_count:
            raise ValueError(f"process_index must be in [0, process_count={self.process_count}), got {self.process_index}")

    @property
    def on_device(self) -> bool:
        return self.delivery == "device"

    def sharding(self):
        """The ``jax.sharding.Sharding`` a delivered batch carries: for a variant with a ``mesh``
        (DIST-*), the batch axis split over ``batch_axes`` of a mesh of the platform's first
        devices; otherwise the platform's first device."""
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

        params = dict(self.variant.params)
        if "mesh" not in params:
            return SingleDeviceSharding(jax.devices(self.platform)[0])
        shape = tuple(params["mesh"])
        count = int(np.prod(shape))
        devices = jax.devices(self.platform)
        if len(devices) < count:
            raise RuntimeError(f"a {shape} mesh needs {count} {self.platform} devices, JAX sees {len(devices)}")
        mesh = Mesh(np.asarray(devices[:count]).reshape(shape), tuple(params["axes"]))
        return NamedSharding(mesh, PartitionSpec(tuple(params["batch_axes"])))

    @property
    def scenario(self) -> Scenario:
        return get_scenario(self.scenario_id)

    @property
    def variant(self) -> Variant:
        return self.scenario.variant(self.variant_name)

    @property
    def backend(self) -> str:
        """Where the records are read from (IO-1's ``backend`` parameter); ``npy`` by default."""
        return dict(self.variant.params).get("backend", "npy")

    @property
    def key(self) -> tuple:
        """Hashable identity of the job, for caches of built loaders."""
        return (self.scenario_id, self.variant_name, tuple(sorted(self.data.items())), self.seed, self.cpu_budget,
                self.shuffle, self.delivery, self.platform)

    def arrays(self) -> dict[str, np.ndarray]:
        """The input fields, memory-mapped read-only (pages load as batches touch them)."""
        return {name: np.load(path, mmap_mode="r") for name, path in self.data.items()}


class Adapter(abc.ABC):
    """A data loader under test.

    ``open(job)`` returns a fresh iterator of batches (dicts of arrays with a leading batch
    dimension) that runs forever, epoch after epoch; heavy set-up may be cached on the
    instance and released in ``close()``.

    These are all the hooks the harness and the scenarios call. A cell calls, in order:
    ``available``, ``version``, ``load``, ``supports``, ``prepare``, then ``open`` as often as
    it measures, ``step_cost`` once after timing, and ``close``. PR-1 also calls
    ``save_checkpoint`` and ``resume``. Every hook but ``version`` and ``open`` has a default.
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""  # one line: what this configuration of the loader is

    @abc.abstractmethod
    def version(self) -> str:
        """The loader library's version string."""

    def available(self) -> str | None:
        """None when the loader can run here, else the reason it cannot."""
        return None

    def load(self) -> None:
        """Imports what the loader needs; called before any clock starts, so no loader's import
        time counts as its time to first batch. Default: nothing to import."""

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        """None when the loader does the scenario's full work, else why it cannot."""
        return None

    def prepare(self, job: Job) -> None:
        """One-off set-up outside the timed region: format conversion (tar shards, chunks,
        Arrow, ArrayRecord or Parquet files), cached on disk per scenario variant.

        The harness calls it before the time-to-first-batch clock starts and records its wall
        time as ``setup_s``; ``open`` must still work without it. Starting worker pools is not
        preparation: that belongs to the time to first batch.
        """

    @abc.abstractmethod
    def open(self, job: Job) -> Iterator[Mapping[str, Any]]:
        """A fresh iterator of batches for ``job``."""

    def close(self) -> None:
        """Releases what ``open`` cached (worker pools, compiled functions, files)."""

    def step_cost(self, job: Job) -> Mapping[str, float] | None:
        """XLA's cost analysis of the loader's compiled per-batch step (keys ``flops``,
        ``bytes_accessed``, optional ``transcendentals``; per batch), for the roofline figures;
        called after the cell is measured. Default None: the loader has no compiled step."""
        return None

    def save_checkpoint(self, job: Job, iterator: Iterator[Mapping[str, Any]], directory: Path) -> None:
        """Saves ``iterator``'s position (PR-1) into ``directory``, mid-epoch, with the
        library's own state mechanism. A loader that declines capability ``checkpoint`` in
        ``supports`` is never asked; the default raises."""
        raise NotImplementedError(f"{self.name} saves no iterator state: its supports() must decline 'checkpoint'")

    def resume(self, job: Job, directory: Path) -> Iterator[Mapping[str, Any]]:
        """A fresh iterator continuing exactly where the one saved into ``directory`` stopped,
        batch for batch (PR-1). The default raises, as for ``save_checkpoint``."""
        raise NotImplementedError(f"{self.name} resumes no iterator state: its supports() must decline 'checkpoint'")


class LibraryAdapter(Adapter):
    """A peer backed by one installed library: version, availability, supports and a loader
    cache follow from class attributes.

    ``available()`` checks that the modules are installed without importing them (listing
    adapters stays fast); ``load()`` imports them, before the cell's clocks, and a library that
    is installed but fails to import makes the cell unavailable with the import error.
    """

    library: ClassVar[str]  # the module the loader is imported as
    distribution: ClassVar[str | None] = None  # its PyPI name, when it differs
    requires: ClassVar[tuple[str, ...]] = ()  # further modules it needs
    ops: ClassVar[Collection[str]] = frozenset()  # transforms it implements
    ops_kind: ClassVar[str] = "NumPy element op"  # what those are, for the reason
    # Source backends it reads (IO-1), and why it does not read the others.
    backends: ClassVar[Collection[str]] = frozenset({"npy", "memory"})
    backend_reasons: ClassVar[Mapping[str, str]] = {}
    # Scenario capabilities it handles (None: the ones every peer handles, see
    # adapters._records.HANDLED_CAPABILITIES), and why the library cannot do some others.
    capabilities: ClassVar[Collection[str] | None] = None
    capability_reasons: ClassVar[Mapping[str, str]] = {}

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution or self.library)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    def available(self) -> str | None:
        for module in (self.library, *self.requires):
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # a dotted name whose parent is missing
                found = False
            if not found:
                return f"{module} is not installed (no module {module!r} on the path)"
        return None

    def load(self) -> None:
        """Imports the library; the harness calls it before any clock starts, as datarax's own
        import happens before its clocks (raises ImportError when it is installed but broken)."""
        for module in (self.library, *self.requires):
            importlib.import_module(module)

    def supports(self, scenario: Scenario, variant: Variant) -> str | None:
        from adapters._records import HANDLED_CAPABILITIES, unsupported

        return unsupported(
            scenario, variant, self.ops, self.ops_kind, self.backends, self.backend_reasons,
            HANDLED_CAPABILITIES if self.capabilities is None else self.capabilities, self.capability_reasons,
        )

    def cached(self, job: Job, build: Callable[[], Any]) -> Any:
        """``build()``'s result for this job, built once per adapter (dropped by ``close``)."""
        cache = self.__dict__.setdefault("_cache", {})
        if job.key not in cache:
            cache[job.key] = build()
        return cache[job.key]

    def close(self) -> None:
        self.__dict__.pop("_cache", None)
