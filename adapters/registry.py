"""Finding adapters by name without importing any loader library."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from adapters.base import Adapter

ENTRY_POINT_GROUP = "datarax_bench.adapters"

BUILTIN: dict[str, str] = {
    "datarax": "adapters.datarax_adapter:DataraxAdapter",
    "numpy": "adapters.numpy_adapter:NumpyAdapter",
}


def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def adapter_names() -> list[str]:
    return sorted({**_plugins(), **BUILTIN})


def load_adapter(name_or_path: str) -> Adapter:
    """Instantiates an adapter given its registered name or a ``module:Class`` path."""
    target = {**_plugins(), **BUILTIN}.get(name_or_path)
    if target is None:
        if ":" not in name_or_path:
            raise KeyError(
                f"unknown adapter {name_or_path!r}; valid: {', '.join(adapter_names())} "
                "(or a 'package.module:Class' path)"
            )
        target = name_or_path
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise TypeError(f"{target!r} is not an Adapter subclass")
    return cls()
