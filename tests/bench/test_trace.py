"""``run --profile-trace CELL``: a jax.profiler trace and a py-spy flame graph in the run folder."""

import gzip
import json

from bench.cli import main
from bench.store import load_records
from bench.trace import py_spy

CELL = "NLP-1/small/numpy"


def test_profile_trace_writes_the_traces_of_one_cell_into_the_run_folder(tmp_path, capsys):
    code = main(["run", "--profile", "ci_cpu", "--scenarios", "NLP-1,TAB-1", "--adapters", "numpy",
                 "--batches", "3", "--repetitions", "1", "--warmup", "1", "--profile-trace", CELL,
                 "--output", str(tmp_path)])
    assert code == 0, capsys.readouterr().out
    (run_dir,) = tmp_path.iterdir()
    records, problems = load_records(run_dir / "results.jsonl")
    assert not problems
    by_cell = {r["cell_id"]: r for r in records}
    assert "trace" not in by_cell["TAB-1/small/numpy"]  # only the chosen cell is traced
    trace = by_cell[CELL]["trace"]
    assert trace["status"] == "ok", trace["reason"]
    assert trace["dir"] == "traces/NLP-1__small__numpy" and trace["traced_batches"] == 3
    names = {p.rsplit("/", 1)[-1] for p in trace["jax_trace"]}
    assert {"perfetto_trace.json.gz"} <= names and any(n.endswith(".xplane.pb") for n in names)
    for path in trace["jax_trace"]:
        assert (run_dir / path).is_file()
    perfetto = json.loads(gzip.decompress((run_dir / trace["dir"] / "jax").glob("**/perfetto_trace.json.gz")
                                          .__next__().read_bytes()))
    assert "datarax-bench batch 0" in json.dumps(perfetto)  # our per-batch annotations
    if py_spy():
        assert trace["flame_graph_absent"] is None
        svg = (run_dir / trace["flame_graph"]).read_text()
        assert svg.lstrip().startswith("<?xml") and "bench/trace.py" in svg
    else:
        assert trace["flame_graph"] is None and "py-spy is not installed" in trace["flame_graph_absent"]


def test_profile_trace_of_an_unknown_cell_names_the_valid_ones(tmp_path, capsys):
    assert main(["run", "--profile", "ci_cpu", "--adapters", "numpy", "--profile-trace", "NLP-1/huge/numpy",
                 "--output", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "NLP-1/huge/numpy" in out and CELL in out
    assert not any(tmp_path.iterdir())
