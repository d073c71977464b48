"""The published results page: generated from a stored run, and stale when support changes."""

from pathlib import Path

from bench.report import load_run
from bench.report.results_page import page_fingerprint, support_fingerprint, write_results_page
from bench.report.scaling import scaling_axes
from bench.store import append_record
from tests.bench.records import sample_record

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "results.md"


def _cell(scenario, variant, adapter, rate, status="ok", reason=None):
    record = sample_record(status=status, scenario=scenario, variant=variant, adapter=adapter,
                           cell_id=f"{scenario}/{variant}/{adapter}", reason=reason)
    if status == "ok":
        record["metrics"] = {**record["metrics"], "elements_per_s": rate, "elements_per_s_by_repetition": [rate, rate]}
    else:
        record.update(metrics=None, samples=None)
    return record


def test_scaling_axes_come_from_the_variants_that_vary_one_thing():
    assert scaling_axes("PC-1", ["depth1", "small", "depth50"]) == {"depth": [["depth1", "small", "depth50"]]}
    assert scaling_axes("CV-1", ["small", "small-x10"]) == {"num_records": [["small", "small-x10"]]}
    assert scaling_axes("DIST-1", ["small-1dev", "small-2dev", "small", "medium"]) == {
        "devices": [["small-1dev", "small-2dev", "small"]]}
    assert scaling_axes("CV-1", ["small", "medium", "large"]) == {}  # every size changes several things
    assert scaling_axes("PC-1", ["small"]) == {}


def test_the_page_holds_every_cell_its_ratio_and_its_charts(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for record in [
        _cell("PC-1", "depth1", "datarax", 900.0), _cell("PC-1", "depth1", "grain", 1000.0),
        _cell("PC-1", "depth1", "numpy", 5000.0),
        _cell("PC-1", "depth50", "datarax", 600.0), _cell("PC-1", "depth50", "grain", 200.0),
        _cell("PC-1", "depth50", "numpy", 100.0),
        _cell("PR-1", "small", "datarax", 50.0), _cell("PR-1", "small", "grain", None, "unsupported", "no state"),
    ]:
        append_record(run / "results.jsonl", record)
    page = write_results_page(load_run(run), tmp_path / "docs" / "results.md")
    text = page.page.read_text()
    assert "| PC-1 | depth1 | 900 | 1,000 | 5,000 | 0.90× |" in text  # numpy is no peer
    assert "| PC-1 | depth50 | 600 | 200 | 100 | 3.00× |" in text
    assert "| PR-1 | small | 50 | unsupported | — | — |" in text
    assert "| PR-1 | small | grain | unsupported | — | — | — | no state |" in text
    assert "| PC-1 | depth1 | grain | ok | 1,000 | 64 MiB | 0.50 s |  |" in text
    assert "commit `deadbeef`" in text and "Profile `ci_cpu`" in text
    names = {p.name for p in page.charts}
    assert "scaling-pc_1-depth.png" in names and "throughput-pc_1.png" in names
    assert all(p.parent == tmp_path / "docs" / "results" and p.read_bytes()[:4] == b"\x89PNG" for p in page.charts)
    assert "![Scaling: PC-1 by operator chain depth](results/scaling-pc_1-depth.png)" in text
    assert page_fingerprint(text) == support_fingerprint()


def test_the_committed_results_page_reflects_todays_support_tables():
    assert PAGE.is_file(), "docs/results.md is missing: datarax-bench report RUN --results-page docs/results.md"
    text = PAGE.read_text()
    assert page_fingerprint(text) == support_fingerprint(), (
        "docs/results.md predates a change to what the loaders support (datarax-bench list matrix): "
        "regenerate it with `datarax-bench report RUN --results-page docs/results.md` from a cpu_full run")
    for image in (line.split("](", 1)[1].rstrip(")") for line in text.splitlines() if line.startswith("![")):
        assert (PAGE.parent / image).is_file(), f"docs/results.md shows {image}, which is not committed"
