"""Test-wide isolation: peers that write into $HOME or /tmp write into a temp folder instead."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

_SANDBOX = tempfile.mkdtemp(prefix="datarax-tests-")
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)
for _var in ("HOME", "TMPDIR", "RAY_TMPDIR", "WANDB_DIR"):
    os.environ[_var] = _SANDBOX
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["DATARAX_BENCH_CACHE"] = os.path.join(_SANDBOX, "bench-cache")


@pytest.fixture(scope="session")
def sandbox() -> str:
    return _SANDBOX

# deeplake aborts the interpreter when imported after TensorFlow (the reverse order works).
# Peer tests run many loaders in this one process, so import it before any test brings in TF.
try:
    import deeplake  # noqa: F401
except ImportError:
    pass
