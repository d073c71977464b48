import base64
import io
import re
import sys

import matplotlib.image
import pytest

from bench.report import build_report, write_report
from tests.report.records import failed_record, ok_record, run_data


def _png_shape(png: bytes) -> tuple[int, ...]:
    return matplotlib.image.imread(io.BytesIO(png), format="png").shape


def _run(tmp_path, extra=(), meta=None):
    records = [
        ok_record("CV-1", "small", "datarax", 3000, seed=1),
        ok_record("CV-1", "small", "numpy", 2000, seed=2),
        ok_record("NLP-1", "small", "datarax", 90000, seed=3),
        failed_record("NLP-1", "small", "numpy", "non-conformant", "token ids out of range"),
        failed_record("CV-1", "small", "dali", "unsupported", "RandomResizedCrop needs the GPU build"),
        *extra,
    ]
    return run_data(records, tmp_path, meta)


def test_core_charts_are_drawn_and_missing_data_is_named(tmp_path):
    report = build_report(_run(tmp_path))
    slugs = {c.slug for c in report.charts}
    assert {"throughput-cv_1", "throughput-nlp_1", "latency-cv_1-small", "latency-nlp_1-small", "memory"} == slugs
    for chart in report.charts:
        height, width, _ = _png_shape(chart.png)
        assert width > 300 and height > 200
    reasons = {a.title: a.reason for a in report.absent}
    assert set(reasons) == {"Scaling curves", "Roofline"}
    assert "no roofline data in this run" in reasons["Roofline"]


def test_scaling_and_roofline_appear_only_when_the_records_carry_them(tmp_path):
    extra = [
        ok_record("PC-1", f"depth{d}", adapter, rate / d, seed=d, scaling={"chain_depth": d},
                  metrics={"arithmetic_intensity": 0.1 * d, "flops_per_s": 1e8 * d})
        for d in (1, 10, 50) for adapter, rate in (("datarax", 5e4), ("grain", 3e4))
    ]
    meta = {"run_id": "r", "ceilings": {"peak_flops_per_s": 1e11, "memory_bytes_per_s": 1e10}}
    report = build_report(_run(tmp_path, extra, meta))
    slugs = {c.slug for c in report.charts}
    assert "scaling-pc_1-chain_depth" in slugs and "roofline" in slugs
    assert report.absent == ()
    roofline = next(c for c in report.charts if c.slug == "roofline")
    assert "probed" in roofline.caption


def test_nothing_ok_draws_nothing_and_says_why(tmp_path):
    report = build_report(run_data([failed_record("CV-1", "small", "numpy", "failed", "crashed")], tmp_path))
    assert report.charts == ()
    assert {a.title for a in report.absent} == {"Throughput", "Batch latency CDFs", "Peak RSS vs throughput",
                                                 "Scaling curves", "Roofline"}


def test_written_html_is_self_contained_and_markdown_lists_the_same_facts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bench.compare", None)  # the plain ratio, without the gate's module
    baseline = run_data([ok_record("CV-1", "small", "datarax", 2000, seed=9)], tmp_path / "base", name="base-run")
    report = build_report(_run(tmp_path), baseline)
    assert "no significance test" in report.comparison_method
    written = write_report(report)
    html = written.html.read_text()
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(written.charts) == 6  # 5 core charts + the baseline ratio chart
    for image in images:
        assert _png_shape(base64.b64decode(image))[0] > 100
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from outside"
    assert "<script" not in html
    assert "token ids out of range" in html and "RandomResizedCrop needs the GPU build" in html
    assert "Test CPU" in html and "no roofline data in this run" in html
    (datarax,) = [c for c in report.comparison if c.adapter == "datarax" and c.scenario == "CV-1"]
    assert 1.3 < datarax.ratio < 1.7
    assert "Against baseline base-run" in html and f"{datarax.ratio:.3f}×" in html

    md = written.markdown.read_text()
    assert "| CV-1 | small | datarax | 3,0" in md and "| best |" in md
    assert f"| {datarax.ratio:.3f}× |" in md
    assert "| NLP-1 | small | numpy | non-conformant | token ids out of range |" in md
    for path in written.charts:
        assert f"(charts/{path.name})" in md and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_with_the_gate_module_the_comparison_carries_its_verdicts(tmp_path):
    pytest.importorskip("bench.compare", reason="the regression gate's module is not in this tree")
    reps = 10  # enough for the gate's default p threshold
    # ci_cpu's gate divides datarax by grain, its reference loader, in each run.
    base = [ok_record("CV-1", "small", a, r, reps=reps, seed=i) for i, (a, r) in enumerate([("datarax", 2000), ("grain", 2000)])]
    now = [ok_record("CV-1", "small", a, r, reps=reps, seed=9 + i) for i, (a, r) in enumerate([("datarax", 3000), ("grain", 2000)])]
    report = build_report(run_data(now, tmp_path), run_data(base, tmp_path / "b", name="base"))
    (row,) = [c for c in report.comparison if c.adapter == "datarax"]
    assert row.verdict == "improvement" and 1.3 < row.ratio < 1.7 and row.p < 0.002
    assert report.comparison_unit == "× grain" and "relative mode" in report.comparison_method
    md = write_report(report).markdown.read_text()
    assert "| improvement |" in md and "baseline (× grain)" in md
