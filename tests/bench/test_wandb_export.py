"""W&B export: offline files under the run folder, read back; failures never touch results."""

import hashlib
import json
import shutil
import sys

import pytest

from bench.cli import main
from bench.export import export_wandb
from bench.export.wandb_run import COLUMNS
from tests.bench.gate_plugins import sleep_run


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_offline_run(folder):
    """The records of an offline run's ``.wandb`` file, by kind."""
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore

    (log,) = folder.glob("run-*.wandb")
    store = datastore.DataStore()
    store.open_for_scan(str(log))
    records = {}
    while (data := store.scan_data()) is not None:
        record = pb.Record()
        record.ParseFromString(data)
        records.setdefault(record.WhichOneof("record_type"), []).append(record)
    return records


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A copy of a slowed run, gated (regression), then exported offline."""
    run = tmp_path_factory.mktemp("wandb") / "run"
    shutil.copytree(sleep_run(1.25), run)
    assert main(["gate", "--baseline", str(sleep_run(1.0)), str(run), "--confirm", "0"]) == 1
    before = _digest(run / "results.jsonl")
    outcome = export_wandb(run, mode="offline")
    assert outcome.ok, outcome.message
    assert _digest(run / "results.jsonl") == before
    (folder,) = (run / "wandb").glob("offline-run-*")
    return run, folder


def test_offline_export_has_one_table_row_per_cell(exported):
    run, folder = exported
    cells = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    (table_file,) = (folder / "files" / "media" / "table").glob("results_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"] == list(COLUMNS)
    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    assert sorted(r["cell"] for r in rows) == sorted(c["cell_id"] for c in cells)
    assert all(r["scenario"] == "CV-1" and r["status"] == "ok" and r["elements_per_s"] > 0 for r in rows)


def test_every_metric_key_names_scenario_variant_and_adapter(exported):
    run, folder = exported
    records = _read_offline_run(folder)
    (history,) = records["history"]
    keys = {item.key or "/".join(item.nested_key) for item in history.history.item}
    metric_keys = {k for k in keys if not k.startswith(("_", "results/", "charts/"))}
    cells = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert len(metric_keys) >= 5 * len(cells)
    for key in metric_keys:
        metric, scenario, variant, adapter = key.split("/", 3)
        assert scenario == "CV-1" and variant == "small", key
    assert any(k.startswith("elements_per_s/CV-1/small/tests.bench.gate_plugins:") for k in metric_keys)
    config = {item.key: json.loads(item.value_json) for item in records["run"][0].run.config.update}
    assert config["profile"]["name"] == "ci_cpu" and config["machine"]["fingerprint"]
    assert config["git_commit"] == cells[0]["git_commit"]
    summary = {item.key: item.value_json for r in records["summary"] for item in r.summary.update}
    assert json.loads(summary["gate/outcome"]) == "regression"
    assert "alert" in records and "artifact" in records
    assert "regression" in records["alert"][0].alert.title


def test_wandb_missing_is_a_message_and_run_keeps_its_exit_code(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    run = tmp_path / "run"
    shutil.copytree(sleep_run(1.0), run)
    outcome = export_wandb(run)
    assert not outcome.ok and "not installed" in outcome.message
    assert main(["export", "wandb", str(run)]) == 1
    assert "not installed" in capsys.readouterr().out
    assert not (run / "wandb").exists()


def test_no_network_fails_fast_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    run = tmp_path / "run"
    shutil.copytree(sleep_run(1.0), run)
    outcome = export_wandb(run, mode="online")
    assert not outcome.ok and "no network connection" in outcome.message
    assert "unchanged" in outcome.message


def test_run_with_wandb_flag_exports_offline(tmp_path, capsys):
    code = main(["run", "--profile", "ci_cpu", "--scenarios", "CV-1", "--adapters", "numpy",
                 "--batches", "3", "--repetitions", "1", "--warmup", "1", "--output", str(tmp_path),
                 "--wandb", "--wandb-mode", "offline"])
    assert code == 0
    assert "W&B run" in capsys.readouterr().out
    (run,) = tmp_path.iterdir()
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb"))
