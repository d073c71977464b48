"""``datarax-bench list``: adapters without importing loader libraries; the support matrix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from adapters import adapter_names
from bench.cli import main
from scenarios import SCENARIOS

LOADERS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "loaders.md"
START, END = "<!-- support-matrix:start -->", "<!-- support-matrix:end -->"
LOADER_LIBRARIES = ("tensorflow", "torch", "grain", "ray", "nvidia.dali", "datasets", "litdata", "deeplake", "spdl")


def test_list_adapters_imports_no_loader_library():
    probe = (
        "import sys; from bench.cli import main; code = main(['list', 'adapters']); "
        f"print('LOADED', sorted(m for m in {LOADER_LIBRARIES!r} if m in sys.modules)); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
    for name in ("grain", "tfdata", "torch", "mosaic"):
        assert re.search(rf"^{name}\s+(available|unavailable: \S)", result.stdout, re.M), name


def test_matrix_has_every_scenario_and_adapter_and_says_why_not(capsys):
    assert main(["list", "matrix", "--markdown"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["scenario", *header[1:]] and set(header[1:]) == set(adapter_names())
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in lines[2:] if line.startswith("| ")}
    assert {label.split(" ")[0] for label in rows} == set(SCENARIOS)
    datarax, grain, tfdata = (header.index(name) - 1 for name in ("datarax", "grain", "tfdata"))
    assert rows["CV-1"][datarax] == rows["CV-1"][grain] == "yes"
    parquet = next(cells for label, cells in rows.items() if label.startswith("IO-1 (small-parquet"))
    assert parquet[grain] == "yes" and parquet[tfdata].startswith("no[^")
    notes = dict(re.findall(r"^\[\^(\d+)\]: (.+)$", text, re.M))
    for cells in rows.values():
        for cell in cells:
            assert cell == "yes" or re.fullmatch(r"no\[\^\d+\]", cell), cell
            if cell != "yes":
                assert notes[cell[4:-1]], cell
    assert "Parquet" in notes[parquet[tfdata][4:-1]]


def test_the_published_matrix_is_the_generated_one(capsys):
    main(["list", "matrix", "--markdown"])
    generated = capsys.readouterr().out.strip()
    page = LOADERS_PAGE.read_text()
    assert START in page and END in page, "docs/loaders.md lost its support-matrix markers"
    section = page.split(START, 1)[1].split(END, 1)[0].strip()
    assert section == generated, "docs/loaders.md's matrix is stale: datarax-bench list matrix --write docs/loaders.md"


def test_list_matrix_write_replaces_the_marked_table_only(tmp_path, capsys):
    page = tmp_path / "loaders.md"
    page.write_text(f"# Loaders\n\nintro\n{START}\nold table\n{END}\n\nafter\n")
    assert main(["list", "matrix", "--write", str(page)]) == 0
    assert "wrote the support matrix" in capsys.readouterr().out
    main(["list", "matrix", "--markdown"])
    generated = capsys.readouterr().out.strip()
    assert page.read_text() == f"# Loaders\n\nintro\n{START}\n{generated}\n{END}\n\nafter\n"
    page.write_text("no markers\n")
    assert main(["list", "matrix", "--write", str(page)]) == 2
    assert "support-matrix:start" in capsys.readouterr().out and page.read_text() == "no markers\n"
