"""The folded peer boilerplate: ``LibraryAdapter`` drives version, availability, supports and a
per-job loader cache from class attributes, without importing the library."""

from __future__ import annotations

import sys

import pytest

from adapters import Job, load_adapter
from adapters.base import LibraryAdapter
from adapters.registry import BUILTIN
from scenarios import get_scenario

IO1 = get_scenario("IO-1")


class _Missing(LibraryAdapter):
    name, library = "missing", "no_such_loader_library"
    backends = frozenset({"npy"})
    backend_reasons = {"parquet": "reads no Parquet, for a reason worth saying"}

    def open(self, job):
        raise AssertionError("never opened")


def test_a_missing_library_is_unavailable_with_the_reason():
    adapter = _Missing()
    assert "no_such_loader_library is not installed" in adapter.available()
    assert adapter.version() == "not installed"


def test_supports_names_the_backend_reason_or_what_it_reads():
    adapter = _Missing()
    assert adapter.supports(IO1, IO1.variant("small")) is None
    assert adapter.supports(IO1, IO1.variant("small-parquet")) == "reads no Parquet, for a reason worth saying"
    assert "reads: npy" in adapter.supports(IO1, IO1.variant("small-memory"))


def test_cached_builds_once_per_job_and_close_drops_it():
    adapter, built = _Missing(), []
    job = Job("IO-1", "small", {"payload": "/nowhere.npy"}, seed=0, cpu_budget=2)
    build = lambda: built.append(1) or len(built)  # noqa: E731
    assert adapter.cached(job, build) == adapter.cached(job, build) == 1
    assert adapter.cached(Job("IO-1", "small", {"payload": "/nowhere.npy"}, seed=1, cpu_budget=2), build) == 2
    adapter.close()
    assert adapter.cached(job, build) == 3


def test_every_peer_is_a_library_adapter_and_availability_imports_nothing():
    peers = [name for name in BUILTIN if name not in ("datarax", "numpy")]
    before = set(sys.modules)
    for name in peers:
        adapter = load_adapter(name)
        assert isinstance(adapter, LibraryAdapter), name
        adapter.available()
    loaded = {m.split(".")[0] for m in set(sys.modules) - before}
    heavy = {"tensorflow", "torch", "grain", "ray", "datasets", "litdata", "deeplake", "spdl", "webdataset"}
    assert not loaded & heavy, loaded & heavy


@pytest.mark.parametrize("name", ["grain", "tfdata", "torch"])
def test_version_comes_from_the_installed_distribution(name):
    from importlib.metadata import version

    adapter = load_adapter(name)
    assert adapter.version() == version(adapter.distribution or adapter.library)


class BrokenImport(_Missing):
    """Installed (found on the path) but its import fails."""

    library = "json"

    def load(self) -> None:
        raise ImportError("libfoo.so: cannot open shared object file")


def test_a_library_that_fails_to_import_makes_the_cell_unavailable_with_the_error():
    from bench.cell import run_cell

    assert BrokenImport().available() is None
    job = {"scenario_id": "IO-1", "variant_name": "small", "data": {"payload": "/nowhere.npy"}, "seed": 0, "cpu_budget": 1}
    outcome = run_cell({"adapter": f"{__name__}:BrokenImport", "job": job, "warmup_batches": 1, "batches": 1, "repetitions": 1})
    assert outcome["status"] == "unavailable"
    assert "installed but not importable: libfoo.so" in outcome["reason"]
