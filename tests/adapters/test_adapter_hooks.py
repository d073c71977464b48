"""Every hook the harness or a scenario calls on a loader is declared on ``Adapter``."""

import ast
from pathlib import Path

import pytest

from adapters import Adapter, Job

ROOT = Path(__file__).resolve().parents[2]


class Minimal(Adapter):
    name = "minimal"

    def version(self):
        return "1"

    def open(self, job):
        return iter(())


def _called_on_adapters() -> set[str]:
    """Names of methods called as ``adapter.NAME(...)`` anywhere in bench/ and scenarios/."""
    names = set()
    for path in [*(ROOT / "bench").rglob("*.py"), *(ROOT / "scenarios").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "adapter"):
                names.add(node.func.attr)
    return names


def test_every_called_hook_is_declared_with_a_docstring():
    called = _called_on_adapters()
    assert {"open", "close", "load", "save_checkpoint", "resume"} <= called
    for name in called:
        hook = getattr(Adapter, name, None)
        assert callable(hook), f"bench/ or scenarios/ call adapter.{name}() but Adapter declares no {name}"
        assert hook.__doc__, f"Adapter.{name} has no docstring"


def test_no_hook_is_looked_up_by_name():
    for path in [*(ROOT / "bench").rglob("*.py"), *(ROOT / "scenarios").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                    and isinstance(node.args[0], ast.Name) and node.args[0].id == "adapter"):
                pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} looks an adapter hook up by name")


def test_defaults():
    adapter = Minimal()
    job = Job(scenario_id="CV-1", variant_name="small", data={}, seed=0, cpu_budget=1)
    assert adapter.load() is None and adapter.step_cost(job) is None
    assert adapter.available() is None and adapter.supports(job.scenario, job.variant) is None
    with pytest.raises(NotImplementedError, match="minimal saves no iterator state"):
        adapter.save_checkpoint(job, iter(()), ROOT)
    with pytest.raises(NotImplementedError, match="minimal resumes no iterator state"):
        adapter.resume(job, ROOT)


def test_trace_and_consumer_import_no_private_helpers():
    for name in ("trace.py", "consumer.py"):
        for node in ast.walk(ast.parse((ROOT / "bench" / name).read_text())):
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"bench/{name} imports private {private} from {node.module}"
