"""End to end: a real ci_cpu run, ``datarax-bench report`` on it, and the page in headless Chromium."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Sets data-images="<loaded>/<total>" on <body> once the page has loaded; injected into a copy
# of the report (the report itself carries no script).
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.body.setAttribute("data-images", loaded + "/" + images.length);
});
</script></body>"""


def _bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory) -> Path:
    """The ci_cpu profile cut to two scenarios, two adapters and few batches: real cells, bounded time."""
    out = tmp_path_factory.mktemp("runs")
    result = _bench("run", "--profile", "ci_cpu", "--scenarios", "CV-1,NLP-1", "--adapters", "datarax,numpy",
                    "--batches", "4", "--repetitions", "3", "--warmup", "1", "--output", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if (p / "results.jsonl").is_file()]
    return run_dir


@pytest.fixture(scope="module")
def reported(ci_run) -> Path:
    result = _bench("report", str(ci_run), "--compare", str(ci_run))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"html: {ci_run / 'report.html'}" in result.stdout
    return ci_run


def test_report_writes_html_markdown_and_charts_into_the_run_folder(reported):
    html = (reported / "report.html").read_text()
    charts = sorted((reported / "charts").glob("*.png"))
    assert charts, "a ci_cpu run with an ok cell draws at least the throughput chart"
    assert html.count('src="data:image/png;base64,') == len(charts)
    md = (reported / "report.md").read_text()
    assert "## Scoreboard" in md and "| CV-1 | small |" in md and "## Against baseline" in md
    # datarax's CV-1 cell carries XLA's FLOPs per batch, run.json the probed ceilings.
    assert "![Roofline](charts/roofline.png)" in md and (reported / "charts" / "roofline.png").is_file()


def test_report_renders_in_headless_chromium_with_every_chart_loaded(reported, tmp_path):
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless Chromium: scripts/ensure-chromium.sh installs Debian's chromium when run as root")
    page = tmp_path / "probe.html"
    page.write_text((reported / "report.html").read_text().replace("</body>", PROBE))
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    found = re.search(r'data-images="(\d+)/(\d+)"', result.stdout)
    assert found, f"the page did not finish loading: {result.stderr[-2000:]}"
    loaded, total = map(int, found.groups())
    assert total == len(list((reported / "charts").glob("*.png"))) > 0
    assert loaded == total


def test_unknown_run_exits_2_and_says_where_it_looked(tmp_path, capsys):
    assert main(["report", "no-such-run", "--runs-dir", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "no-such-run" in out and str(tmp_path) in out
