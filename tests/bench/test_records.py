"""Cell specs and result records: typed, and the committed JSON Schema generated from them."""

import dataclasses

import pytest

from bench.records import SCHEMA_PATH, SCHEMA_VERSION, CellSpec, Record, RecordError, schema_text
from bench.store import append_record, read_records, record_problem
from tests.bench.records import sample_record


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "bench/record.schema.json differs from bench/records.py: run `python -m bench.records`")


def test_a_record_round_trips_through_the_schema():
    record = Record.from_json(sample_record())
    assert record.ok and record.elements_per_s == 100.0 and record.peak_rss_bytes == 2**26
    assert record.to_json() == {**sample_record(), "delivery": "host", "device": None, "replicate": 0}  # an old record's defaults
    assert record_problem(record.to_json()) is None
    failed = dataclasses.replace(record, status="timeout", reason="no batch within 5 s", metrics=None, samples=None)
    assert not failed.ok and failed.elements_per_s is None and record_problem(failed.to_json()) is None


def test_fields_written_only_when_present():
    record = Record.from_json(sample_record())
    assert "traceback" not in record.to_json() and "outcomes" not in record.to_json()
    with_outcomes = dataclasses.replace(record, outcomes={"resumed_identical": True})
    assert with_outcomes.to_json()["outcomes"] == {"resumed_identical": True}


def test_another_schema_version_or_an_unknown_field_is_refused_by_name():
    with pytest.raises(RecordError, match=f"schema version 1; this code reads version {SCHEMA_VERSION}"):
        Record.from_json(sample_record(schema_version=1))
    with pytest.raises(RecordError, match=r"unknown fields \['colour'\]"):
        Record.from_json(sample_record(colour="blue"))
    with pytest.raises(RecordError, match="status 'fine'; valid: ok, failed"):
        Record.from_json(sample_record(status="fine"))


def test_the_schema_still_rejects_what_it_did():
    assert "required" in record_problem({k: v for k, v in sample_record().items() if k != "wall_s"})
    assert record_problem(sample_record(status="failed", reason=None)) is not None  # a failure says why
    ok_without_rate = sample_record()
    del ok_without_rate["metrics"]["elements_per_s"]
    assert "elements_per_s" in record_problem(ok_without_rate)


def test_records_are_read_back_typed(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, sample_record())
    append_record(path, sample_record(status="unsupported", metrics=None, samples=None))
    records, problems = read_records(path)
    assert not problems and [r.status for r in records] == ["ok", "unsupported"]
    assert all(isinstance(r, Record) for r in records)


def test_cell_spec_round_trips_and_validates():
    job = {"scenario_id": "CV-1", "variant_name": "small", "data": {}, "seed": 0, "cpu_budget": 1}
    spec = CellSpec(adapter="numpy", job=job, warmup_batches=1, batches=4, repetitions=2)
    sent = {**spec.to_json(), "parent_pid": 1, "cpus": [0]}  # launcher keys are not the spec's
    assert CellSpec.from_json(sent) == spec and spec.make_job().scenario_id == "CV-1"
    with pytest.raises(ValueError, match="phase 'warm'; valid: measure, consumer"):
        dataclasses.replace(spec, phase="warm")
    with pytest.raises(ValueError, match="needs consumer_step_ms"):
        dataclasses.replace(spec, phase="consumer")
    with pytest.raises(ValueError, match="batches must be >= 1, got 0"):
        dataclasses.replace(spec, batches=0)
