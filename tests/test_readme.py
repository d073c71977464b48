"""The README and docs/: the quick start runs exactly as printed, every link resolves, the
front page stays short, and the prose tells no history."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report.readme import END, START

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Phrases that narrate the project's past or future instead of describing what is there.
HISTORY = re.compile(r"\bissue\s+\d+|\bonce\s+(?:its|the|this)\s+\w+(?:\s+\w+)?\s+lands|\bpreviously\b"
                     r"|\bused\s+to\b|\bseed\s+README\b|\bnow\s+(?:that|uses)\b|\bstored\s+before\s+this\b",
                     re.IGNORECASE)


def quickstart() -> str:
    """The first ``python`` code block after the README's "Quick start" heading, verbatim."""
    text = README.read_text()
    heading = re.search(r"^## Quick start.*$", text, re.MULTILINE)
    assert heading, "README.md has no '## Quick start' section"
    block = re.search(r"^```python\n(.*?)^```$", text[heading.end():], re.MULTILINE | re.DOTALL)
    assert block, "the README's quick start has no python code block"
    return block.group(1)


def test_the_readme_quick_start_runs_as_printed():
    # The block as printed, then checks of what it left behind (appended, not edited in).
    checks = "\nassert state['epoch'] == 0 and state['batch_index'] == 3, state\nprint('resumes at', state['batch_index'])\n"
    out = subprocess.run([sys.executable, "-c", quickstart() + checks], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{i} (32, 28, 28, 1) (32,)" for i in range(3)] + ["resumes at 3"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", page.read_text(), re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_example_in_the_docs_runs(page):
    for block in python_blocks(page):
        out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0, f"{page.name}: this example fails:\n{block}\n{out.stderr}"


def test_the_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    for command in ("bash scripts/bench", "bash scripts/test"):
        assert any(line.startswith(command) for line in lines), f"README.md lost `{command}`"
    # The results summary is written by `datarax-bench report RUN --readme README.md`.
    assert lines.count(START) == 1 and lines.count(END) == 1, "README.md lost its results markers"


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub gives a Markdown page (lower case, punctuation dropped)."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```$", "", page.read_text(), flags=re.M | re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{page.relative_to(ROOT)} links to {target}: no such heading"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_prose_describes_what_is_there(page):
    found = [m.group(0) for m in HISTORY.finditer(page.read_text())]
    assert not found, f"{page.relative_to(ROOT)} narrates history: {found}"


def test_readme_links_every_docs_page():
    readme = README.read_text()
    missing = [p.name for p in PAGES if f"docs/{p.name}" not in readme]
    assert not missing, f"README.md does not link {missing}"
