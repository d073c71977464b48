"""The layers stay apart: no import cycles inside a package, scenarios never import the harness,
and the engine dispatches on no stage type."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at module level or inside functions, as absolute names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    return {name: {m for m in _imports(path, name) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among non-``__init__`` modules (a package re-exporting is not a cycle), or None."""
    packages = {name for name in graph if any(other.startswith(name + ".") for other in graph)}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph[node] - packages):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep, [*path, dep])):
                return found
        state[node] = 2
        return None

    for start in sorted(set(graph) - packages):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


@pytest.mark.parametrize("package", ["datarax", "bench", "adapters", "scenarios"])
def test_no_import_cycle(package):
    cycle = _cycle(_graph(package))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}) == ["p.a", "p.b", "p.c", "p.a"]
    assert _cycle({"p.a": {"p.b"}, "p.b": set()}) is None


def test_scenarios_never_import_the_harness():
    for path in (ROOT / "scenarios").rglob("*.py"):
        harness = {m for m in _imports(path, _module_name(path)) if m.split(".")[0] in ("bench", "adapters")}
        assert not harness, f"{path.relative_to(ROOT)} imports {sorted(harness)}"


def test_the_engine_dispatches_on_no_stage_type():
    """The executor treats every stage through the Stage contract: no ``isinstance`` on a concrete
    stage class (Cache, Rebatch, an operator or node type)."""
    concrete = {"Cache", "Rebatch", "HostStage", "ElementOperator", "CompositeOperator", "Node", "OperatorNode"}
    for path in (ROOT / "datarax").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and len(node.args) == 2:
                kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
                names = {getattr(k, "id", getattr(k, "attr", None)) for k in kinds}
                assert not names & concrete, f"{path.relative_to(ROOT)}:{node.lineno} dispatches on {names & concrete}"
