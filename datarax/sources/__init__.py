"""Random-access data sources: each reads a whole batch of record ids in one gather.

TFDS, HuggingFace, ArrayRecord and Parquet (pyarrow) libraries are imported only when those
sources are built.
"""

from datarax.sources.array_record import ArrayRecordSource, ArrayRecordSourceConfig, write_array_record
from datarax.sources.base import ColumnSource, DataSourceModule
from datarax.sources.hf import HFSource, HFSourceConfig
from datarax.sources.memory import MemorySource, MemorySourceConfig
from datarax.sources.mixed import MixedSource, MixedSourceConfig
from datarax.sources.npy import NpySource, NpySourceConfig
from datarax.sources.parquet import ParquetSource, ParquetSourceConfig
from datarax.sources.ragged import RaggedSource, RaggedSourceConfig
from datarax.sources.tfds import TFDSSource, TFDSSourceConfig

__all__ = [
    "ArrayRecordSource",
    "ArrayRecordSourceConfig",
    "ColumnSource",
    "DataSourceModule",
    "HFSource",
    "HFSourceConfig",
    "MemorySource",
    "MemorySourceConfig",
    "MixedSource",
    "MixedSourceConfig",
    "NpySource",
    "NpySourceConfig",
    "ParquetSource",
    "ParquetSourceConfig",
    "RaggedSource",
    "RaggedSourceConfig",
    "TFDSSource",
    "TFDSSourceConfig",
    "write_array_record",
]
