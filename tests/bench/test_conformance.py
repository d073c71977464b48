"""The sampling pass: a fresh iterator's first batches fed lazily, as host copies, to the
scenario's sampling check; a problem or a batch off the delivery point is non-conformant."""

import itertools

import numpy as np
import pytest

from bench.conformance import HOST, DeliveryPoint, NonConformant, sampling_pass


class Counted:
    """A loader of batches ``{"id": [i]}`` that counts what it produced and whether it was closed."""

    def __init__(self, make=lambda i: {"id": np.full(4, i)}):
        self.make, self.produced, self.closed, self.opened = make, 0, 0, 0

    def open(self):
        self.opened += 1

        def stream():
            try:
                for i in itertools.count():
                    self.produced += 1
                    yield self.make(i)
            finally:
                self.closed += 1

        return stream()


def test_batches_are_fed_lazily_as_host_copies_of_a_fresh_iterator():
    loader = Counted()
    seen = []

    def check(batches):
        for batch in batches:
            seen.append((int(batch["id"][0]), loader.produced, type(batch["id"])))
        return None

    seconds = sampling_pass(loader.open, 6, check, HOST)
    assert seconds > 0 and loader.opened == 1 and loader.closed == 1
    assert [s[0] for s in seen] == list(range(6))
    assert all(produced == i + 1 for i, (_, produced, _) in enumerate(seen))  # never read ahead
    assert {s[2] for s in seen} == {np.ndarray}


def test_a_check_that_stops_early_reads_no_more_and_the_iterator_is_closed():
    loader = Counted()
    sampling_pass(loader.open, 100, lambda batches: next(iter(batches)) and None, HOST)
    assert loader.produced == 1 and loader.closed == 1


def test_the_copies_are_the_checks_own():
    """A loader reusing one buffer: what the check kept still holds the values it was given."""
    buffer = np.zeros(4)

    def reuse(i):
        buffer[:] = i
        return {"id": buffer}

    kept = []
    sampling_pass(Counted(reuse).open, 3, lambda batches: kept.extend(batches), HOST)
    assert [int(b["id"][0]) for b in kept] == [0, 1, 2]


def test_a_problem_is_non_conformant_and_says_what_was_read():
    with pytest.raises(NonConformant, match="sampling check over the first 8 batches of a fresh iterator: epoch 0 repeats"):
        sampling_pass(Counted().open, 8, lambda batches: list(batches) and "epoch 0 repeats", HOST)


def test_an_iterator_that_ends_early_is_named():
    with pytest.raises(NonConformant, match="ended after 2 of 5 batches"):
        sampling_pass(lambda: iter([{"id": np.zeros(1)}] * 2), 5, lambda batches: list(batches) and None, HOST)


def test_a_host_batch_under_device_delivery_is_non_conformant():
    import jax

    on_cpu = DeliveryPoint.on(jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0]))
    with pytest.raises(NonConformant, match="sampling pass, batch 1: field 'id' is a numpy.ndarray"):
        sampling_pass(Counted().open, 3, lambda batches: list(batches) and None, on_cpu)
    device = Counted(lambda i: {"id": jax.device_put(np.full(4, i), jax.devices("cpu")[0])})
    kinds = []
    sampling_pass(device.open, 3, lambda batches: kinds.extend(type(b["id"]) for b in batches), on_cpu)
    assert kinds == [np.ndarray] * 3  # device batches reach the check as host copies
