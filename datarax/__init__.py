"""datarax: data pipelines for JAX, as Flax NNX modules."""

from datarax.pipeline import Pipeline, from_source
from datarax.typing import Batch, Element

__version__ = "0.1.0"

__all__ = ["Batch", "Element", "Pipeline", "from_source", "__version__"]
