"""Loaders that cannot run here are listed with the reason, never silently missing."""

import pytest

from adapters import adapter_names, load_adapter


@pytest.mark.parametrize("name", ["mosaic", "ffcv", "energon"])
def test_loaders_that_cannot_run_here_say_why(name):
    adapter = load_adapter(name)
    assert adapter.available()
    assert adapter.version()
    with pytest.raises(RuntimeError, match="unavailable"):
        adapter.open(None)


def test_every_loader_of_the_comparison_is_registered():
    peers = {"grain", "tfdata", "torch", "dali", "ray", "spdl", "jax_dataloader", "hf_datasets", "webdataset", "litdata"}
    assert peers | {"datarax", "numpy", "mosaic", "ffcv", "deeplake", "energon"} <= set(adapter_names())
