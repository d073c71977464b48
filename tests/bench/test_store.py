import copy
import json

import pytest

from bench.store import append_record, find_run, load_records, record_problem, record_schema, write_json_atomic
from tests.bench.records import sample_record as _record


def test_the_schema_is_shipped_and_accepts_runner_records():
    assert record_schema()["title"] == "datarax-bench result record"
    assert record_problem(_record()) is None
    assert record_problem(_record("timeout", metrics={"peak_rss_bytes": 1}, samples=None)) is None


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda r: r.update(status="crashed"), ["crashed", "status"]),
        (lambda r: r.pop("git_commit"), ["git_commit"]),
        (lambda r: r["metrics"].pop("latency_p99_s"), ["latency_p99_s"]),
        (lambda r: r["metrics"].update(elements_per_s=-1.0), ["metrics.elements_per_s"]),
        (lambda r: r.update(samples=None), ["samples"]),
        (lambda r: r.update(status="failed", reason=None), ["reason"]),
        (lambda r: r.update(extra=1), ["extra"]),
        (lambda r: r["machine"].pop("ram_bytes"), ["ram_bytes"]),
    ],
)
def test_schema_rejects_broken_records_saying_where(mutate, words):
    record = copy.deepcopy(_record())
    mutate(record)
    problem = record_problem(record)
    assert problem is not None
    for word in words:
        assert word in problem


def test_bad_lines_are_named_by_number_and_the_rest_load(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, _record(run_id="a"))
    with open(path, "a") as f:
        f.write('{"status": "ok", "trunc\n')
        f.write(json.dumps({"status": "ok", "n": 2}) + "\n")
    append_record(path, _record("failed", run_id="b"))
    records, problems = load_records(path)
    assert [r["run_id"] for r in records] == ["a", "b"]
    assert len(problems) == 2
    assert ":2: not valid JSON" in problems[0] and ":3: not a valid result record" in problems[1]


def test_an_append_after_a_torn_line_starts_a_new_line(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, _record(run_id="a"))
    with open(path, "a") as f:
        f.write('{"schema_version": 2, "run_')  # a writer killed mid-line
    append_record(path, _record(run_id="b"))
    records, problems = load_records(path)
    assert [r["run_id"] for r in records] == ["a", "b"]
    assert len(problems) == 1 and ":2:" in problems[0]


def test_write_json_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"b": 2})
    assert json.loads(path.read_text()) == {"b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_find_run_by_id_folder_or_file(tmp_path):
    run = tmp_path / "20260101T000000Z-abc123"
    write_json_atomic(run / "run.json", {})
    assert find_run(run.name, tmp_path) == run
    assert find_run(str(run), tmp_path / "elsewhere") == run
    (run / "results.jsonl").write_text("")
    assert find_run(str(run / "results.jsonl"), tmp_path) == run
    with pytest.raises(FileNotFoundError, match="20260101T000000Z-abc123"):
        find_run("nope", tmp_path)


def test_records_carry_their_delivery_point_and_older_ones_read_as_host(tmp_path):
    from pathlib import Path

    path = tmp_path / "results.jsonl"
    device = _record(delivery="device", device="cpu:0")
    device["metrics"].update(conformance_s=0.4, drain_window_elements_per_s=90.0, timed_sample_seed=7,
                             sampling_check_batches=64)
    append_record(path, device)
    append_record(path, _record("unsupported", run_id="b", delivery="device", device=None, metrics=None, samples=None))
    append_record(path, _record(run_id="legacy"))  # written before the key existed
    records, problems = load_records(path)
    assert not problems
    assert [(r["delivery"], r["device"]) for r in records] == [("device", "cpu:0"), ("device", None), ("host", "host")]
    assert "delivery" in record_problem(_record(delivery="gpu"))
    for baseline in sorted(Path("results/baselines").glob("*/*.jsonl")):  # committed records still load
        first = tmp_path / "first.jsonl"
        with open(baseline) as f:
            first.write_text(f.readline())
        loaded, problems = load_records(first)
        assert len(loaded) == 1 and not problems and loaded[0]["delivery"] in ("host", "device")
