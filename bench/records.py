"""The two documents the harness passes around: a cell's spec and a cell's result record.

:class:`CellSpec` is what the runner hands a cell's process (as JSON); :class:`Record` is one
line of a run's ``results.jsonl``. Both are frozen dataclasses; the record's JSON Schema,
``bench/record.schema.json``, is generated from :class:`Record` and the metric table below
(``python -m bench.records`` rewrites it; a test fails when the committed file differs), and
every stored record is read back through :meth:`Record.from_json`, which checks its version.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Mapping

SCHEMA_VERSION = 2
STATUSES = ("ok", "failed", "timeout", "unsupported", "unavailable", "non-conformant")
PHASES = ("measure", "consumer")
LEGACY_DELIVERY = "host"  # records written before ``delivery`` existed were timed to host arrays
SCHEMA_PATH = Path(__file__).with_name("record.schema.json")


class RecordError(ValueError):
    """A stored record this code cannot read (another schema version, or malformed)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class CellSpec:
    """What a cell's process is told: the loader, its job and the measurement's shape.

    ``job`` holds :class:`adapters.Job`'s fields; ``ceilings`` the machine's probed ceilings
    (or None); ``phase`` ``"consumer"`` runs the cell against a simulated training step of
    ``consumer_step_ms`` instead of measuring it.
    """

    adapter: str
    job: Mapping[str, Any]
    warmup_batches: int
    batches: int
    repetitions: int
    min_window_s: float = 0.0
    ceilings: Mapping[str, Any] | None = None
    phase: str = "measure"
    consumer_step_ms: float | None = None

    def __post_init__(self):
        if self.phase not in PHASES:
            raise ValueError(f"phase {self.phase!r}; valid: {', '.join(PHASES)}")
        if self.phase == "consumer" and not self.consumer_step_ms:
            raise ValueError("a consumer phase needs consumer_step_ms > 0")
        for name in ("warmup_batches", "batches", "repetitions"):
            if getattr(self, name) < (0 if name == "warmup_batches" else 1):
                raise ValueError(f"{name} must be >= {0 if name == 'warmup_batches' else 1}, got {getattr(self, name)}")

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> "CellSpec":
        """The spec among ``spec``'s keys; keys the process launchers add (``parent_pid``,
        ``cpus``, ``coordinator``, ...) are theirs and ignored here."""
        return cls(**{f.name: spec[f.name] for f in dataclasses.fields(cls) if f.name in spec})

    def make_job(self):
        from adapters import Job

        return Job(**self.job)


def _field(schema: Mapping[str, Any], *, default: Any = dataclasses.MISSING, required: bool = True,
           omit_none: bool = False) -> Any:
    """A record field and its JSON Schema; ``required`` False for fields older records lack,
    ``omit_none`` for fields written only when they hold something."""
    meta = {"schema": dict(schema), "required": required, "omit_none": omit_none}
    return dataclasses.field(default=default, metadata=meta)


_STR = {"type": "string", "minLength": 1}
_STR_OR_NULL = {"type": ["string", "null"]}
_SECONDS = {"$ref": "#/$defs/seconds"}
_FRACTION = {"$ref": "#/$defs/fraction_or_null"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_NONNEGATIVE = {"type": "number", "minimum": 0}


def _described(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description}


# Every metric a record may carry: name -> its schema. Unlisted names must still be numbers,
# null, arrays or objects (a loader's extra counters).
METRICS: dict[str, dict[str, Any]] = {
    "elements_per_s": _described(_POSITIVE, "sustained throughput: every timed element over the time of every timed window; the statistic every comparison uses"),
    "batches_per_s": _POSITIVE,
    "bytes_per_s": _NONNEGATIVE,
    "bytes_per_batch": {"type": "integer", "minimum": 0},
    "ttfb_s": _SECONDS,
    "ttfb_warm_s": _SECONDS,
    "setup_s": _described(_SECONDS, "wall time of the adapter's prepare() (format conversion, cached on disk per variant), before the time-to-first-batch clock starts"),
    "latency_mean_s": _SECONDS,
    "latency_p50_s": _SECONDS,
    "latency_p95_s": _SECONDS,
    "latency_p99_s": _SECONDS,
    "latency_samples": {"type": "integer", "minimum": 1},
    "cpu_seconds": _SECONDS,
    "cpu_s_per_element": _SECONDS,
    "peak_rss_bytes": {"type": "integer", "minimum": 0},
    "peak_pss_bytes": {"type": ["integer", "null"], "minimum": 0},
    "elements_per_s_by_repetition": {"type": "array", "items": _POSITIVE},
    "cpu_steal_s": _described(_NONNEGATIVE, "CPU seconds a hypervisor gave other guests during the windows, all CPUs"),
    "cpu_steal_fraction": _described(_FRACTION, "cpu_steal_s / (window seconds x CPUs)"),
    "cpu_steal_absent": _STR,
    "window_min_batches": _described({"type": "integer", "minimum": 1}, "each timed window ran at least this many batches"),
    "window_min_s": _described(_NONNEGATIVE, "... and went on until it had lasted this long"),
    "elements_per_s_median_window": _described(_POSITIVE, "the median window's rate; elements_per_s is every timed element over every window's time"),
    "ttfb_warm_s_by_repetition": {"type": "array", "items": _SECONDS},
    "drain_window_elements_per_s": _described({"type": ["number", "null"], "minimum": 0}, "the untimed window run after warm-up and discarded, so that prefetch queues filled during the checks do not drain into the first timed window"),
    "conformance_s": _described(_SECONDS, "untimed checking: the first batch, the sampled timed batches (copied to host after the clock) and the sampling pass"),
    "timed_sample_seed": _described({"type": "integer", "minimum": 0}, "seeds which batch of each timed window was copied and checked"),
    "sampling_check_batches": _described({"type": "integer", "minimum": 1}, "batches of a fresh iterator the scenario's sampling check read"),
    "sampling_check_absent": _described(_STR, "why the sampling check did not run"),
    "stage_s_per_batch": {
        "description": "the loader's own counters (datarax: gather, host_to_device, step, queue_wait), seconds per batch over the timed repetitions",
        "type": "object", "additionalProperties": _SECONDS,
    },
    "input_bytes_per_element": _NONNEGATIVE,
    "output_bytes_per_element": _NONNEGATIVE,
    "moved_bytes_per_element": _described(_NONNEGATIVE, "input read + output written"),
    "moved_bytes_per_s": _NONNEGATIVE,
    "copy_ceiling_fraction": _described(_FRACTION, "moved_bytes_per_s / the probed copy bandwidth"),
    "xla_cost_absent": _STR,
    "xla_flops_per_batch": _NONNEGATIVE,
    "xla_bytes_accessed_per_batch": _NONNEGATIVE,
    "xla_transcendentals_per_batch": _NONNEGATIVE,
    "flops_per_s": _NONNEGATIVE,
    "arithmetic_intensity": _described({"type": ["number", "null"], "minimum": 0}, "XLA FLOPs per XLA byte accessed"),
    "attainable_flops_per_s": {"type": ["number", "null"], "minimum": 0},
    "roofline_fraction": _described(_FRACTION, "flops_per_s / attainable_flops_per_s"),
    "consumer_absent": _STR,
    "consumer_step_target_s": _POSITIVE,
    "consumer_step_s": _SECONDS,
    "consumer_step_iterations": {"type": "integer", "minimum": 0},
    "stall_fraction": {"type": "number", "minimum": 0, "maximum": 1},
    "steps_per_s": _POSITIVE,
    "stall_fraction_by_repetition": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
    "steps_per_s_by_repetition": {"type": "array", "items": _POSITIVE},
}
# What an ok cell always measured.
OK_METRICS = ("elements_per_s", "batches_per_s", "bytes_per_s", "ttfb_s", "latency_p50_s", "latency_p95_s",
              "latency_p99_s", "cpu_s_per_element", "peak_rss_bytes", "elements_per_s_by_repetition")

_MACHINE = {
    "type": "object",
    "required": ["cpu_model", "cores", "ram_bytes", "os", "arch", "python", "fingerprint"],
    "properties": {
        "cpu_model": {"type": "string"},
        "cores": {"type": ["integer", "null"], "minimum": 1},
        "ram_bytes": {"type": "integer", "minimum": 0},
        "os": {"type": "string"},
        "arch": {"type": "string"},
        "python": {"type": "string"},
        "fingerprint": _STR,
    },
}
_TRACE = {
    "description": "the profilers' output for the cell chosen with --profile-trace; paths relative to the run folder",
    "type": "object",
    "required": ["status", "reason", "dir", "jax_trace", "flame_graph", "flame_graph_absent"],
    "additionalProperties": False,
    "properties": {
        "status": {"enum": ["ok", "failed", "skipped"]},
        "reason": _STR_OR_NULL,
        "dir": _STR_OR_NULL,
        "jax_trace": {"type": ["array", "null"], "items": {"type": "string"}},
        "flame_graph": _STR_OR_NULL,
        "flame_graph_absent": _STR_OR_NULL,
        "traced_batches": {"type": "integer", "minimum": 1},
    },
}
_SAMPLES = {
    "type": "object",
    "properties": {
        "batch_latency_s": {
            "description": "per repetition, the seconds of every next() incl. materialization; the first of each repetition is its warm time to first batch",
            "type": "array", "minItems": 1,
            "items": {"type": "array", "minItems": 1, "items": _SECONDS},
        },
    },
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """One (scenario, variant, adapter) cell of one run: one line of ``results.jsonl``.

    ``metrics`` is None unless the loader ran; an ok record carries at least
    :data:`OK_METRICS`. Read the figures through the properties (``elements_per_s`` is the
    sustained rate every comparison uses).
    """

    schema_version: int = _field({"const": SCHEMA_VERSION}, default=SCHEMA_VERSION)
    run_id: str = _field(_STR)
    cell_id: str = _field(_STR)
    replicate: int = _field(_described({"type": "integer", "minimum": 0}, "which of the run's independent processes of this cell (the profile's replicates)"),
                            default=0, required=False)
    profile: str = _field(_STR)
    scenario: str = _field(_STR)
    variant: str = _field(_STR)
    spec_hash: str = _field({"type": "string", "pattern": "^[0-9a-f]{16}$"})
    adapter: str = _field(_described(_STR, "registered name or module:Class path"))
    adapter_version: str | None = _field(_described(_STR_OR_NULL, "the loader library's version"))
    status: str = _field({"enum": list(STATUSES)})
    reason: str | None = _field(_STR_OR_NULL)
    delivery: str = _field(_described({"enum": ["device", "host"]}, "where a batch counted as delivered: jax.Arrays on the profile's device, ready, or host NumPy arrays; a record without it was timed to host arrays"),
                           default=LEGACY_DELIVERY, required=False)
    device: str | None = _field(_described(_STR_OR_NULL, "the device(s) batches were delivered to (\"host\" in host mode); null when the cell never opened its loader"),
                                default=None, required=False)
    traceback: str | None = _field({"type": "string"}, default=None, required=False, omit_none=True)
    metrics: Mapping[str, Any] | None = _field({"oneOf": [{"type": "null"}, {"$ref": "#/$defs/metrics"}]})
    samples: Mapping[str, Any] | None = _field({"oneOf": [{"type": "null"}, {"$ref": "#/$defs/samples"}]})
    outcomes: Mapping[str, Any] | None = _field({
        "type": "object", "minProperties": 1,
        "description": "an outcome scenario's measured results (identical yes/no, checkpoint bytes, ...)",
        "additionalProperties": {"type": ["boolean", "number", "string", "null"]},
    }, default=None, required=False, omit_none=True)
    batch_size: int = _field({"type": "integer", "minimum": 1})
    cpu_budget: int = _field({"type": "integer", "minimum": 1})
    cpus: list[int] | None = _field({"type": ["array", "null"], "items": {"type": "integer", "minimum": 0}},
                                    default=None, required=False)
    machine: Mapping[str, Any] = _field(_MACHINE)
    machine_fingerprint: str = _field(_STR)
    git_commit: str = _field(_STR)
    python: str = _field(_STR)
    versions: Mapping[str, str | None] = _field({
        "type": "object", "description": "distribution name -> installed version (null when not installed)",
        "additionalProperties": _STR_OR_NULL,
    })
    started_at: str = _field(_STR)
    wall_s: float = _field(_described(_NONNEGATIVE, "the cell's measured process, not its consumer or trace runs"))
    trace: Mapping[str, Any] | None = _field({"$ref": "#/$defs/trace"}, default=None, required=False, omit_none=True)

    def __post_init__(self):
        if self.schema_version != SCHEMA_VERSION:
            raise RecordError(f"record schema version {self.schema_version!r}; this code reads version {SCHEMA_VERSION}")
        if self.status not in STATUSES:
            raise RecordError(f"status {self.status!r}; valid: {', '.join(STATUSES)}")

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not (f.metadata["omit_none"] and getattr(self, f.name) is None)}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "Record":
        """A stored record; raises :class:`RecordError` for another schema version or a field
        this version does not know."""
        version = record.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(f"record {record.get('cell_id', '?')} has schema version {version!r}; "
                              f"this code reads version {SCHEMA_VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise RecordError(f"record {record.get('cell_id', '?')} has unknown fields {unknown}; valid: {sorted(known)}")
        return cls(**record)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metric(self, name: str) -> Any:
        """A metric's value, or None when the record has no metrics or not this one."""
        return (self.metrics or {}).get(name)

    @property
    def elements_per_s(self) -> float | None:
        """Sustained elements/s: every timed element over every timed window's time."""
        return self.metric("elements_per_s")

    @property
    def ttfb_s(self) -> float | None:
        return self.metric("ttfb_s")

    @property
    def peak_rss_bytes(self) -> int | None:
        return self.metric("peak_rss_bytes")


def record_schema() -> dict[str, Any]:
    """The JSON Schema of a stored record, generated from :class:`Record` and :data:`METRICS`."""
    fields = dataclasses.fields(Record)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://datarax.invalid/bench/record.schema.json",
        "title": "datarax-bench result record",
        "description": "One (scenario, variant, adapter) cell of one run: one line of results.jsonl. "
                       "Generated from bench/records.py (python -m bench.records).",
        "type": "object",
        "required": [f.name for f in fields if f.metadata["required"]],
        "additionalProperties": False,
        "properties": {f.name: f.metadata["schema"] for f in fields},
        "allOf": [{
            "if": {"properties": {"status": {"const": "ok"}}},
            "then": {"properties": {
                "metrics": {"$ref": "#/$defs/ok_metrics"},
                "samples": {"$ref": "#/$defs/samples", "required": ["batch_latency_s"]},
            }},
            "else": {"properties": {"reason": {"type": "string", "minLength": 1}}},
        }],
        "$defs": {
            "seconds": {"type": "number", "minimum": 0},
            "fraction_or_null": {"type": ["number", "null"], "minimum": 0},
            "number_or_null": {"type": ["number", "null"]},
            "trace": _TRACE,
            "metrics": {
                "type": "object", "properties": METRICS,
                "additionalProperties": {"type": ["number", "null", "array", "object"]},
            },
            "ok_metrics": {"$ref": "#/$defs/metrics", "required": list(OK_METRICS)},
            "samples": _SAMPLES,
        },
    }


def schema_text() -> str:
    """:func:`record_schema` as committed in ``bench/record.schema.json``."""
    return json.dumps(record_schema(), indent=2) + "\n"


if __name__ == "__main__":  # python -m bench.records: rewrite bench/record.schema.json
    SCHEMA_PATH.write_text(schema_text())
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")
