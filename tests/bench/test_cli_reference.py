"""docs/cli.md is what the command parsers print today."""

from bench.cli_reference import PAGE, render


def test_the_committed_cli_reference_is_current():
    assert PAGE.read_text() == render(), "docs/cli.md is stale: regenerate it with `python -m bench.cli_reference`"


def test_the_reference_has_every_command_and_option():
    text = render()
    for heading in ("## `datarax-bench`", "### `datarax-bench run`", "#### `datarax-bench cloud launch`",
                    "#### `datarax-bench export wandb`", "## `datarax`", "### `datarax run`"):
        assert f"\n{heading}\n" in text, heading
    for option in ("--profile PROFILE", "--resume RUN", "--adapter-module MODULE:CLASS", "--readme FILE",
                   "--results-page FILE", "--allow-missing", "--no-progress"):
        assert option in text, option
