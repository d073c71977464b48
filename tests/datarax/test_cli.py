"""The ``datarax`` CLI: a pipeline from a TOML file, iterated with stats; clear file errors."""

import pytest

from datarax.cli import main, operator_registry

PIPELINE = """
[source]
type = "synthetic"
num_records = 64
fields = { image = { shape = [4, 4, 3], dtype = "float32" }, label = { shape = [], dtype = "int32" } }

[pipeline]
batch_size = 16
prefetch = 1

[[operators]]
name = "Normalize"
field = "image"
mean = [127.5]
std = [127.5]

[[operators]]
name = "{flip}"
field = "image"
stochastic = true
stream_name = "aug"
"""


def _write(tmp_path, text):
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return str(path)


def test_run_iterates_one_epoch_and_prints_measured_stats(tmp_path, capsys):
    assert main(["run", _write(tmp_path, PIPELINE.replace("{flip}", "RandomFlip"))]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("batches 4, records 64, seconds ")
    assert "gather_batches" in out and "4/4 batches" in err


def test_typo_in_operator_name_lists_the_valid_names(tmp_path, capsys):
    assert main(["run", _write(tmp_path, PIPELINE.replace("{flip}", "RandomFlp"))]) == 2
    err = capsys.readouterr().err
    assert "unknown operator 'RandomFlp'; valid names:" in err
    assert all(name in err for name in ("RandomFlip", "Normalize", "LearnableColorTransform"))
    assert {"RandomFlip", "Resize", "PadToLength", "Standardize", "LearnableNormalize"} <= set(operator_registry())


@pytest.mark.parametrize("edit, message", [
    (("mean = [127.5]", "means = [127.5]"), "unknown options ['means']; valid options:"),
    (("batch_size = 16", "batch = 16"), "[pipeline]: unknown options ['batch']"),
    (('type = "synthetic"', 'type = "csv"'), "type must be one of ['npy', 'synthetic'], got 'csv'"),
    (("[source]", "[sauce]"), "unknown sections ['sauce']"),
    (('field = "image"\nmean', 'mean'), "NormalizeConfig.__init__() missing 1 required keyword-only argument: 'field'"),
    (('type = "synthetic"', 'type = "npy"'), "type = 'npy' needs path ="),
])
def test_bad_pipeline_files_fail_with_exit_2_naming_the_valid_choices(tmp_path, capsys, edit, message):
    text = PIPELINE.replace("{flip}", "RandomFlip").replace(*edit)
    assert main(["run", _write(tmp_path, text), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
