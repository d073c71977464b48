"""Saving and restoring pipeline state: plain files, or with Orbax (``datarax.checkpoint.orbax``,
imported on demand so datarax does not need Orbax)."""

from datarax.checkpoint.files import load_state, save_state

__all__ = ["load_state", "save_state"]
