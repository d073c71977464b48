"""Loaders that start worker processes and then hang, for tests/bench/test_orphans.py.

Each touches the file named by ``$ORPHAN_READY`` once its workers run, then blocks, so the
test can kill the runner while the cell and its workers are alive.
"""

import multiprocessing
import os
import subprocess
import time
from pathlib import Path

from adapters.base import Adapter


def _ready_then_hang():
    Path(os.environ["ORPHAN_READY"]).touch()
    time.sleep(3600)


def _slow(x):
    time.sleep(0.01)
    return x


class _Hanging(Adapter):
    def version(self):
        return "test"


class GrainWorkersAdapter(_Hanging):
    """Grain's ``mp_prefetch``: spawned worker processes (and multiprocessing's resource tracker)."""

    name = "grain-workers"

    def open(self, job):
        import grain
        from absl import flags

        flags.FLAGS.mark_as_parsed()
        dataset = grain.MapDataset.range(10**6).map(_slow).to_iter_dataset()
        iterator = iter(dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=2)))
        next(iterator)
        _ready_then_hang()
        yield


class _Range:
    def __len__(self):
        return 10**6

    def __getitem__(self, i):
        return _slow(i)


class TorchWorkersAdapter(_Hanging):
    """A torch ``DataLoader`` with two worker processes."""

    name = "torch-workers"

    def open(self, job):
        import torch.utils.data

        iterator = iter(torch.utils.data.DataLoader(_Range(), batch_size=4, num_workers=2))
        next(iterator)
        _ready_then_hang()
        yield


class CarelessAdapter(_Hanging):
    """A forked pool never closed, and a child that left the cell's session (``setsid``)."""

    name = "careless"

    def open(self, job):
        pool = multiprocessing.get_context("fork").Pool(2)
        pool.map(_slow, range(4))
        subprocess.Popen(["sleep", "3600"], start_new_session=True)
        _ready_then_hang()
        yield
