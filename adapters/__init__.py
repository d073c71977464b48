"""Loaders under test, one module each; ``load_adapter(name)`` finds one by name.

Built-in adapters live in this package; third-party ones register under the
``datarax_bench.adapters`` entry-point group or are given as ``package.module:Class``.
"""

from adapters.base import Adapter, Job
from adapters.registry import AdapterNotFound, adapter_class, adapter_names, adapter_origins, load_adapter

__all__ = ["Adapter", "AdapterNotFound", "Job", "adapter_class", "adapter_names", "adapter_origins", "load_adapter"]
