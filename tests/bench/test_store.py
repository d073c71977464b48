import json

from bench.store import append_record, load_records, write_json_atomic


def test_append_and_load_skip_a_corrupt_line_by_number(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, {"status": "ok", "n": 1})
    with open(path, "a") as f:
        f.write('{"status": "ok", "trunc\n')
    append_record(path, {"status": "failed", "n": 2})
    records, problems = load_records(path)
    assert [r["n"] for r in records] == [1, 2]
    assert len(problems) == 1 and ":2:" in problems[0]


def test_write_json_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"b": 2})
    assert json.loads(path.read_text()) == {"b": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
