"""The README's quick start, run exactly as printed."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


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
    out = subprocess.run([sys.executable, "-c", quickstart() + checks], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{i} (32, 28, 28, 1) (32,)" for i in range(3)] + ["resumes at 3"]
