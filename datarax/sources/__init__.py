"""Random-access data sources: each reads a whole batch of record ids in one gather."""

from datarax.sources.base import DataSourceModule
from datarax.sources.memory import MemorySource, MemorySourceConfig

__all__ = ["DataSourceModule", "MemorySource", "MemorySourceConfig"]
