"""The scenario catalogue: every scenario is listed (CLI and docs/scenarios.md) with its variants."""

from pathlib import Path

from bench.cli import main
from scenarios import SCENARIOS

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_list_scenarios_prints_category_variants_and_capabilities(capsys):
    assert main(["list", "scenarios"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for s in SCENARIOS.values():
        assert f"{s.id} {s.category}" in out
        assert all(v in out for v in s.variants)
        assert all(c in out for c in s.capabilities)


def test_the_docs_table_lists_every_scenario_with_its_category_and_capabilities():
    rows = {
        cells[0]: cells
        for line in CATALOGUE.read_text().splitlines()
        if line.startswith("| ") and (cells := [c.strip() for c in line.strip("|").split("|")])[0] in SCENARIOS
        and len(cells) == 5
    }
    assert sorted(rows) == sorted(SCENARIOS)
    for sid, (_, category, _, _, capabilities) in rows.items():
        assert category == SCENARIOS[sid].category
        assert capabilities == (", ".join(sorted(SCENARIOS[sid].capabilities)) or "-")
