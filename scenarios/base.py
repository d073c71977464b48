"""What a benchmark scenario is: data it generates, work it asks for, and how a batch is checked.

A scenario is the contract every adapter implements. Its ``spec`` (fields, sizes, transforms
with exact parameters) is hashed; results are only ever compared under the same hash.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
from typing import Any, Callable, ClassVar, Iterable, Mapping

import numpy as np

SPEC_VERSION = 1


class NonConformant(Exception):
    """A batch broke the scenario's contract; the cell is reported, not timed."""


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One field of a record: name, per-record shape and dtype.

    A ``None`` dimension varies from batch to batch (NLP-2's bucketed width); the scenario's
    ``check_values`` says which sizes are legal.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str


@dataclasses.dataclass(frozen=True)
class Transform:
    """One per-element step of a scenario's work on one field, with its exact parameters."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, **params: Any) -> "Transform":
        return cls(name, tuple(sorted(params.items())))

    @property
    def field(self) -> str:
        return dict(self.params)["field"]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters other than ``field``."""
        return {k: v for k, v in self.params if k != "field"}


@dataclasses.dataclass(frozen=True)
class Variant:
    """A size of a scenario: record count, batch size and scenario-specific parameters."""

    name: str
    num_records: int
    batch_size: int
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if self.num_records < self.batch_size or self.batch_size <= 0:
            raise ValueError(
                f"variant {self.name!r}: need 0 < batch_size <= num_records, "
                f"got batch_size={self.batch_size}, num_records={self.num_records}"
            )

    def param(self, key: str) -> Any:
        return dict(self.params)[key]


class Scenario(abc.ABC):
    """A workload: subclasses declare identity and variants and implement the four methods."""

    id: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    variants: ClassVar[Mapping[str, Variant]]
    # True when ``check_rows`` finds the stored rows from the batch's values (no ``index`` field).
    rows_by_content: ClassVar[bool] = False
    # False where an epoch is not one shuffled pass over the records (``check_sampling``).
    epoch_sampling: ClassVar[bool] = True

    @abc.abstractmethod
    def input_fields(self, variant: Variant) -> tuple[FieldSpec, ...]:
        """Fields of the stored records the generator writes."""

    @abc.abstractmethod
    def output_fields(self, variant: Variant) -> tuple[FieldSpec, ...]:
        """Fields of one record of every batch an adapter yields."""

    @abc.abstractmethod
    def transforms(self, variant: Variant) -> tuple[Transform, ...]:
        """The ordered per-element work, with exact parameters."""

    @abc.abstractmethod
    def generate(self, variant: Variant, seed: int) -> dict[str, np.ndarray]:
        """Deterministic data for ``variant``: the same seed gives the same bytes."""

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            raise KeyError(
                f"scenario {self.id} has no variant {name!r}; valid: {', '.join(self.variants)}"
            ) from None

    def spec(self, variant: Variant) -> dict[str, Any]:
        return {
            "spec_version": SPEC_VERSION,
            "id": self.id,
            "variant": dataclasses.asdict(variant),
            "inputs": [dataclasses.asdict(f) for f in self.input_fields(variant)],
            "outputs": [dataclasses.asdict(f) for f in self.output_fields(variant)],
            "transforms": [dataclasses.asdict(t) for t in self.transforms(variant)],
        }

    def spec_hash(self, variant: Variant) -> str:
        blob = json.dumps(self.spec(variant), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def check_batch(
        self, variant: Variant, batch: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray] | None = None
    ) -> str | None:
        """Returns the first way ``batch`` breaks the scenario's contract, or None.

        With the job's stored ``inputs``, scenarios whose records carry an ``index`` field (or
        whose rows are found by content, ``rows_by_content``) are also checked row by row
        against their NumPy reference (``check_rows``).
        """
        expected = {f.name: f for f in self.output_fields(variant)}
        if set(batch) != set(expected):
            return f"fields {sorted(batch)} != expected {sorted(expected)}"
        for name, spec in expected.items():
            array = batch[name]
            want_shape = (variant.batch_size, *spec.shape)
            if len(array.shape) != len(want_shape) or any(
                w is not None and g != w for g, w in zip(array.shape, want_shape)
            ):
                return f"field {name!r}: shape {tuple(array.shape)} != expected {want_shape}"
            if np.dtype(array.dtype) != np.dtype(spec.dtype):
                return f"field {name!r}: dtype {array.dtype} != expected {spec.dtype}"
        problem = self.check_values(variant, batch)
        if problem is None and inputs is not None and ("index" in expected or self.rows_by_content):
            problem = self.check_rows(variant, batch, inputs)
        return problem

    def check_rows(
        self, variant: Variant, batch: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]
    ) -> str | None:
        """Exactness against the reference for the stored rows ``batch["index"]``; None when equal."""
        return None

    def child_env(self, variant: Variant) -> dict[str, str]:
        """Environment variables the cell's fresh process needs before anything is imported
        (e.g. DIST-*'s forced host device count); the runner sets them when it spawns the cell."""
        return {}

    def outcomes(self, adapter: Any, job: Any) -> dict[str, Any] | None:
        """Measured outcomes beyond throughput (outcome scenarios: PR-*, IO-4, ...); None for most."""
        return None

    def check_values(self, variant: Variant, batch: Mapping[str, np.ndarray]) -> str | None:
        """Scenario-specific value checks (ranges, statistics); None when they pass."""
        return None

    def sampling_batches(self, variant: Variant) -> int:
        """How many consecutive batches of a fresh iterator :meth:`check_sampling` reads: two
        epochs, so that an epoch's ids and the change from one epoch to the next are seen; 0
        where there is nothing to check (no epochs, or records without ids)."""
        has_ids = self.rows_by_content or any(f.name == "index" for f in self.output_fields(variant))
        return 2 * (variant.num_records // variant.batch_size) if self.epoch_sampling and has_ids else 0

    def check_sampling(
        self, variant: Variant, batches: Iterable[Mapping[str, np.ndarray]], inputs: Mapping[str, np.ndarray]
    ) -> str | None:
        """Checks the first ``sampling_batches(variant)`` batches of a fresh iterator (host
        arrays, consumed one by one, never all held at once): each epoch's ids form a
        permutation of the records, epochs differ in order, and a record's random parameters
        differ between epochs. Runs untimed, after the measurement; None when they pass."""
        ids = self.record_ids(variant, inputs) if self.epoch_sampling else None
        if ids is None:
            return None
        from scenarios.sampling import sampling_problem

        return sampling_problem(
            batches, ids, num_records=variant.num_records, batch_size=variant.batch_size,
            ordered=bool(dict(variant.params).get("ordered", False)),
            random="stochastic_per_element" in self.capabilities,
        )

    def record_ids(
        self, variant: Variant, inputs: Mapping[str, np.ndarray]
    ) -> Callable[[Mapping[str, np.ndarray]], np.ndarray] | None:
        """How the sampling check reads the stored record ids of a batch's rows: its ``index``
        field; None when the records carry no ids (the check then judges nothing)."""
        if any(f.name == "index" for f in self.output_fields(variant)):
            return lambda batch: np.asarray(batch["index"])
        return None
