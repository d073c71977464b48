"""The engine's shape: no import cycle, no dispatch on stage types, configs that hold."""

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import datarax
from datarax.core import Stage
from datarax.core.module import DataraxModule

ROOT = Path(datarax.__file__).parent
MODULES = sorted(
    "datarax." + ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in ROOT.rglob("*.py")
)


def _source(module: str) -> tuple[Path, ast.Module]:
    relative = module.removeprefix("datarax").strip(".").replace(".", "/")
    path = ROOT / relative / "__init__.py" if (ROOT / relative).is_dir() else ROOT / f"{relative}.py"
    return path, ast.parse(path.read_text(), str(path))


def _imports(module: str) -> set[str]:
    """Every datarax module ``module`` imports, at the top or inside a function: ``from p import
    x`` imports the submodule ``p.x`` if there is one, else ``p`` (parent packages, which
    Python initialises first in either case, are not counted)."""
    found = set()
    for node in ast.walk(_source(module)[1]):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        else:
            continue
        found |= {name for name in names if name in MODULES and name != module}
    return found


def test_no_import_cycle_in_datarax():
    graph = {module: _imports(module) for module in MODULES}
    cycles, done = [], set()

    def visit(module, path):
        if module in path:
            cycles.append(path[path.index(module):] + [module])
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, path + [module])
        done.add(module)

    for module in MODULES:
        visit(module, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _stage_classes() -> set[str]:
    """Names of every stage type datarax defines, the contract ``Stage`` itself excepted."""
    names = {"HostStage"}
    for info in pkgutil.walk_packages(datarax.__path__, "datarax."):
        if info.name.endswith(("cli", "checkpoint.orbax")) or ".sources." in info.name:
            continue
        for name, value in vars(importlib.import_module(info.name)).items():
            if inspect.isclass(value) and issubclass(value, Stage) and value is not Stage:
                names.add(name)
    return names


def test_no_isinstance_dispatch_on_stage_types():
    stages = _stage_classes()
    assert {"OperatorModule", "OperatorNode", "Merge", "Cache", "Rebatch", "DynamicPadToBucket"} <= stages
    found = []
    for module in MODULES:
        path, tree = _source(module)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2):
                continue
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            named = {k.id if isinstance(k, ast.Name) else getattr(k, "attr", None) for k in kinds}
            if named & stages:
                found.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {ast.unparse(node)}")
    assert not found, "dispatch on stage types (give the stage a method or attribute instead): " + "; ".join(found)


def _config_classes():
    for module in MODULES:
        if module.endswith(("checkpoint.orbax", "sources.tfds")):
            continue
        for name, value in vars(importlib.import_module(module)).items():
            if inspect.isclass(value) and dataclasses.is_dataclass(value) and name.endswith("Config") \
                    and value.__module__.startswith("datarax"):
                yield value


@pytest.mark.parametrize("config", sorted(set(_config_classes()), key=lambda c: c.__qualname__), ids=lambda c: c.__name__)
def test_every_config_is_frozen_and_keyword_only(config):
    assert config.__dataclass_params__.frozen
    assert all(f.kw_only for f in dataclasses.fields(config)), [f.name for f in dataclasses.fields(config) if not f.kw_only]


def test_a_module_needs_a_frozen_keyword_only_config():
    @dataclasses.dataclass
    class Loose:
        x: int = 0

    @dataclasses.dataclass(frozen=True)
    class Positional:
        x: int = 0

    for config in (None, Loose(), Positional()):
        with pytest.raises(TypeError, match="frozen, keyword-only dataclass"):
            DataraxModule(config)
