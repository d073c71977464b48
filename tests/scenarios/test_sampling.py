"""The sampling check on synthetic streams: what passes, what fails and what the message says."""

import numpy as np
import pytest

from scenarios.sampling import COMPARED_RECORDS, label_order_problem, sampling_problem

N, B = 1024, 64


def _stream(orders, values=None):
    """Batches of ``index`` (and a ``value`` field, per record and epoch) cut from each epoch's order."""
    for epoch, order in enumerate(orders):
        for start in range(0, len(order) - B + 1, B):
            ids = order[start:start + B]
            value = ids * 10 + epoch if values is None else values(ids, epoch)
            yield {"index": ids, "value": value.astype(np.float32)}


def _judge(orders, *, ordered=False, random=False, values=None, num_records=N):
    return sampling_problem(_stream(orders, values), lambda b: b["index"], num_records=num_records,
                            batch_size=B, ordered=ordered, random=random)


def _shuffled(seed):
    return np.random.default_rng(seed).permutation(N)


def test_two_shuffled_epochs_with_fresh_draws_pass():
    assert _judge([_shuffled(0), _shuffled(1)], random=True) is None


def test_an_epoch_in_stored_order_is_no_shuffle():
    assert "does not shuffle" in _judge([np.arange(N), np.arange(N)])


def test_the_same_order_twice_is_no_reshuffle():
    order = _shuffled(0)
    assert "same order" in _judge([order, order])


def test_a_record_delivered_twice_in_an_epoch_fails_with_the_count():
    order = _shuffled(0)
    order[:3] = order[3:6]
    assert "delivers 3 records twice" in _judge([order, _shuffled(1)])


def test_an_epoch_of_the_remainder_may_repeat_that_many_records():
    """Records 1000..1023 of a 1000-record epoch of batches of 64: 40 are left over each epoch."""
    n = 1000
    first, second = np.random.default_rng(0).permutation(n), np.random.default_rng(1).permutation(n)
    stream = np.concatenate([first, second, np.random.default_rng(2).permutation(n)])
    per_epoch = n // B * B
    carried = [stream[:per_epoch], stream[per_epoch:2 * per_epoch]]  # epochs cut by count
    assert _judge(carried, num_records=n) is None


def test_a_stored_order_variant_must_read_in_order():
    assert _judge([np.arange(N), np.arange(N)], ordered=True) is None
    assert "not in stored order" in _judge([_shuffled(0), _shuffled(1)], ordered=True)


def test_random_parameters_drawn_once_per_record_fail():
    problem = _judge([_shuffled(0), _shuffled(1)], random=True, values=lambda ids, epoch: ids * 10)
    assert f"all {COMPARED_RECORDS} records compared have the same output" in problem


def test_deterministic_work_may_repeat_its_output():
    assert _judge([_shuffled(0), _shuffled(1)], values=lambda ids, epoch: ids * 10) is None


def test_a_short_stream_is_reported_with_the_epoch():
    assert "epoch 2 holds 0 records; expected 1024" in _judge([_shuffled(0)])


@pytest.mark.parametrize("bad", [-1, N])
def test_ids_outside_the_records_fail(bad):
    order = _shuffled(0)
    order[0] = bad
    assert "outside [0, 1024)" in _judge([order, _shuffled(1)])


def _labelled(orders, labels):
    for order in orders:
        for start in range(0, len(order) - B + 1, B):
            yield {"label": labels[order[start:start + B]]}


@pytest.mark.parametrize("orders, expected", [
    (lambda: [_shuffled(0), _shuffled(1)], None),
    (lambda: [np.arange(N), _shuffled(1)], "stored records' order"),
    (lambda: [_shuffled(0), _shuffled(0)], "same label sequence"),
    (lambda: [np.concatenate([_shuffled(0)[:-B], np.arange(B)]), _shuffled(1)], "missing or repeated"),
])
def test_records_without_ids_are_judged_by_their_labels(orders, expected):
    labels = np.random.default_rng(5).integers(0, 10, N)
    problem = label_order_problem(_labelled(orders(), labels), labels, num_records=N, batch_size=B)
    assert problem is None if expected is None else expected in problem
