"""The README's results section is generated from a stored run."""

import json

import pytest

from bench.cli import main
from bench.report.loading import load_run
from bench.report.readme import END, START, MarkersMissing, replace_section, results_section
from tests.bench.records import sample_record


def _run(tmp_path):
    """A stored run: CV-1 and NLP-1 small on datarax, grain, torch (unsupported on NLP-1), numpy."""
    def record(scenario, adapter, rate, status="ok"):
        r = sample_record(status, scenario=scenario, adapter=adapter, cell_id=f"{scenario}/small/{adapter}")
        r["metrics"] = {**r["metrics"], "elements_per_s": rate, "ttfb_s": 1.25, "peak_rss_bytes": 300 * 2**20}
        if status != "ok":
            r["metrics"], r["samples"] = None, None
        return r

    records = [
        record("CV-1", "datarax", 4000.0), record("CV-1", "grain", 1000.0), record("CV-1", "torch", 2000.0),
        record("CV-1", "numpy", 8000.0),
        record("NLP-1", "datarax", 500.0), record("NLP-1", "grain", 1000.0),
        record("NLP-1", "torch", None, status="unsupported"), record("NLP-1", "numpy", 100.0),
    ]
    folder = tmp_path / "run1"
    folder.mkdir()
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "run.json").write_text(json.dumps({"run_id": "run1", "git_commit": "cafe1234beef5678",
                                                 "started_at": "2026-11-22T05:00:00+00:00",
                                                 "profile": {"name": "ci_cpu"}, "machine": records[0]["machine"]}))
    return folder


def test_the_table_has_every_cell_adapter_and_ratio(tmp_path):
    section = results_section(load_run(_run(tmp_path)), "datarax-bench run --profile ci_cpu")
    lines = section.splitlines()
    assert lines[0] == START and lines[-1] == END
    assert "`datarax-bench run --profile ci_cpu`" in lines[1] and "cafe1234beef" in lines[1] and "2026-11-22" in lines[1]
    assert "| scenario | variant | datarax | grain | torch | numpy |" in section
    cv1 = next(line for line in lines if line.startswith("| CV-1"))
    # Best peer is the fastest other loader (torch, 2000); the NumPy loop is the baseline column.
    assert "| 4,000 | 1,000 | 2,000 | 8,000 | 1.25 s | 300 MiB | torch | 2.00× | 4.00× |" in cv1
    nlp1 = next(line for line in lines if line.startswith("| NLP-1"))
    assert "| unsupported |" in nlp1 and nlp1.endswith("| grain | 0.50× | 0.50× |")


def test_the_readme_section_is_replaced_in_place_or_the_markers_are_asked_for(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{START}\nold table\n{END}\nafter\n")
    assert main(["report", str(_run(tmp_path)), "--readme", str(readme), "--output", str(tmp_path / "out")]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n" + START) and text.endswith(END + "\nafter\n")
    assert "old table" not in text and "| CV-1 | small |" in text
    readme.write_text("no markers here\n")
    assert main(["report", str(tmp_path / "run1"), "--readme", str(readme), "--output", str(tmp_path / "out")]) == 2
    assert "results:start" in capsys.readouterr().out
    assert readme.read_text() == "no markers here\n"  # nothing written on failure
    with pytest.raises(MarkersMissing):
        replace_section("text", "section")
