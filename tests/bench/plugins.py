"""Adapters that misbehave on purpose, loaded by ``tests.bench.plugins:Class`` paths."""

import os
import time

import numpy as np

from adapters.base import Adapter


class _Fake(Adapter):
    def version(self):
        return "test"

    def _batch(self, job):
        v = job.variant
        crop = v.param("crop_size")
        return {
            "image": np.zeros((v.batch_size, crop, crop, 3), np.float32),
            "label": np.zeros(v.batch_size, np.int32),
        }


class SleepAdapter(_Fake):
    """Conformant batches, each produced after a 20 ms sleep."""

    name = "sleep"
    delay_s = 0.02

    def open(self, job):
        batch = self._batch(job)
        while True:
            time.sleep(self.delay_s)
            yield batch


class CrashAdapter(_Fake):
    name = "crash"

    def open(self, job):
        os.abort()
        yield


class HangAdapter(_Fake):
    name = "hang"

    def open(self, job):
        time.sleep(3600)
        yield


class WrongShapeAdapter(_Fake):
    name = "wrong-shape"

    def open(self, job):
        batch = self._batch(job)
        batch["image"] = batch["image"][:, :-1]
        while True:
            yield batch


class UnavailableAdapter(_Fake):
    name = "unavailable"

    def available(self):
        return "library 'nothing' is not installed"

    def open(self, job):
        raise AssertionError("never opened")
