"""Finding adapters by name without importing any loader library.

Three sources, in order of precedence: the built-in adapters of this package (``BUILTIN``),
adapters other distributions register under the ``datarax_bench.adapters`` entry-point group
(``name = "package.module:Class"``), and any ``package.module:Class`` path given directly.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from adapters.base import Adapter

ENTRY_POINT_GROUP = "datarax_bench.adapters"

BUILTIN: dict[str, str] = {
    "datarax": "adapters.datarax_adapter:DataraxAdapter",
    "numpy": "adapters.numpy_adapter:NumpyAdapter",
    "grain": "adapters.grain_adapter:GrainAdapter",
    "tfdata": "adapters.tfdata_adapter:TfDataAdapter",
    "tfdata-batched": "adapters.tfdata_adapter:TfDataBatchedAdapter",
    "torch": "adapters.torch_adapter:TorchAdapter",
    "torch-batched": "adapters.torch_adapter:TorchBatchedAdapter",
    "dali": "adapters.dali_adapter:DaliAdapter",
    "ray": "adapters.ray_adapter:RayAdapter",
    "spdl": "adapters.spdl_adapter:SpdlAdapter",
    "jax_dataloader": "adapters.jax_dataloader_adapter:JaxDataloaderAdapter",
    "hf_datasets": "adapters.hf_datasets_adapter:HfDatasetsAdapter",
    "webdataset": "adapters.webdataset_adapter:WebDatasetAdapter",
    "litdata": "adapters.litdata_adapter:LitDataAdapter",
    "deeplake": "adapters.deeplake_adapter:DeepLakeAdapter",
    "mosaic": "adapters.unavailable_adapters:MosaicStreamingAdapter",
    "ffcv": "adapters.unavailable_adapters:FfcvAdapter",
    "energon": "adapters.unavailable_adapters:EnergonAdapter",
}


class AdapterNotFound(KeyError):
    """An adapter name that is not registered, or a ``module:Class`` path that does not load."""

    def __str__(self) -> str:
        return str(self.args[0])


def adapter_origins() -> dict[str, tuple[str, str]]:
    """``{name: (module:Class, origin)}`` for every registered adapter; imports nothing."""
    found = {
        ep.name: (ep.value, f"entry point from {ep.dist.name if ep.dist else 'unknown distribution'}")
        for ep in entry_points(group=ENTRY_POINT_GROUP)
    }
    found.update({name: (target, "built-in") for name, target in BUILTIN.items()})
    return found


def adapter_names() -> list[str]:
    return sorted(adapter_origins())


def adapter_class(name_or_path: str) -> type[Adapter]:
    """The adapter class registered as ``name_or_path``, or found at that ``module:Class`` path."""
    registered = adapter_origins().get(name_or_path)
    target = registered[0] if registered else name_or_path
    module_name, _, class_name = target.partition(":")
    if not module_name or not class_name:
        raise AdapterNotFound(
            f"unknown adapter {name_or_path!r}; valid: {', '.join(adapter_names())} "
            "(or a 'package.module:Class' path)"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - whatever the module raises, the adapter cannot load
        raise AdapterNotFound(
            f"adapter {name_or_path!r}: cannot import {module_name!r} ({type(e).__name__}: {e})"
        ) from e
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        what = "has no attribute" if cls is None else "is not an Adapter subclass:"
        raise AdapterNotFound(f"adapter {name_or_path!r}: module {module_name!r} {what} {class_name!r}")
    return cls


def load_adapter(name_or_path: str) -> Adapter:
    """Instantiates an adapter given its registered name or a ``module:Class`` path."""
    return adapter_class(name_or_path)()
