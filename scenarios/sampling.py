"""The sampling check: over a fresh iterator's first two epochs, each epoch delivers every
record once in a shuffled order (or in stored order where the variant says ``ordered``), the two
epochs differ in order, and, where the work is random, a record's output differs between them.

Epochs are cut from the stream by count (``num_records // batch_size`` batches each), so a
loader that keeps an epoch's remainder for the next one is allowed ``num_records % batch_size``
repeated or missing ids per epoch; every small variant but PC-3's has no remainder.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable, Mapping

import numpy as np

# Records whose outputs are compared across the two epochs: enough that an honest random
# pipeline shows a difference (PC-4's least random op keeps a row with p ≤ 0.75, so 512
# unchanged rows has probability < 1e-60), few enough that hashing them costs milliseconds.
COMPARED_RECORDS = 512
MIN_COMPARED = 64  # fewer records seen in both epochs than this: the comparison is not judged

RecordIds = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def _digest(batch: Mapping[str, np.ndarray], row: int) -> bytes:
    """A digest of one record's output: every field but its id, bytes exact."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(batch):
        if name != "index":
            h.update(np.ascontiguousarray(batch[name][row]).tobytes())
    return h.digest()


def sampling_problem(
    batches: Iterable[Mapping[str, np.ndarray]],
    record_ids: RecordIds,
    *,
    num_records: int,
    batch_size: int,
    ordered: bool,
    random: bool,
) -> str | None:
    """None when two epochs of ``batches`` sample as the module docstring says, else the first
    problem (which epoch, what was expected). ``record_ids`` maps a batch to its stored ids."""
    per_epoch = num_records // batch_size
    slack = num_records % batch_size
    epochs: list[list[np.ndarray]] = [[], []]
    first: dict[int, bytes] = {}
    compared = unchanged = 0
    for number, batch in enumerate(batches):
        epoch = number // per_epoch
        if number == per_epoch:  # epoch 1 is complete: judge it before reading on
            problem = _epoch_problem(1, np.concatenate(epochs[0]), per_epoch * batch_size, num_records, slack, ordered)
            if problem:
                return problem
        if epoch > 1:
            break
        ids = np.asarray(record_ids(batch), np.int64)
        epochs[epoch].append(ids)
        if not random:
            continue
        for row, record in enumerate(ids.tolist()):
            if epoch == 0 and len(first) < COMPARED_RECORDS:
                first[record] = _digest(batch, row)
            elif epoch == 1 and record in first:
                compared += 1
                unchanged += _digest(batch, row) == first[record]
    orders = [np.concatenate(e) if e else np.zeros(0, np.int64) for e in epochs]
    judged = 1 if epochs[1] else 0  # epoch 1 was judged when epoch 2 began
    for epoch, order in enumerate(orders[judged:], start=judged + 1):
        problem = _epoch_problem(epoch, order, per_epoch * batch_size, num_records, slack, ordered)
        if problem:
            return problem
    if not ordered and np.array_equal(orders[0], orders[1]):
        return "epochs 1 and 2 deliver the records in the same order: the loader does not reshuffle between epochs"
    if random and compared >= MIN_COMPARED and unchanged == compared:
        return (f"all {compared} records compared have the same output in epochs 1 and 2: the random "
                "parameters are drawn once per record, not per epoch (expected fresh draws each epoch)")
    return None


def _epoch_problem(epoch: int, order: np.ndarray, expected: int, num_records: int, slack: int, ordered: bool) -> str | None:
    if len(order) != expected:
        return f"epoch {epoch} holds {len(order)} records; expected {expected}"
    if order.min() < 0 or order.max() >= num_records:
        return f"epoch {epoch} holds record ids outside [0, {num_records})"
    repeats = len(order) - len(np.unique(order))
    if repeats > slack:
        return (f"epoch {epoch} delivers {repeats} records twice (at most {slack} allowed for the remainder): "
                f"an epoch must be a permutation of the {num_records} records")
    if ordered and epoch == 1 and not np.array_equal(order, np.arange(expected)):
        at = int(np.flatnonzero(order != np.arange(expected))[0])
        return f"epoch 1 is not in stored order (the variant reads in order): position {at} holds record {int(order[at])}"
    if not ordered and epoch == 1 and np.array_equal(order, np.arange(expected)):
        return "epoch 1 delivers the records in stored order: the loader does not shuffle"
    return None


def label_order_problem(
    batches: Iterable[Mapping[str, np.ndarray]], stored_labels: np.ndarray, *, num_records: int, batch_size: int
) -> str | None:
    """The sampling check for records without ids, by their labels: each epoch's labels are the
    stored labels' multiset, not in stored order, and the second epoch's sequence is not the
    first's. Weaker than ids (a loader could repeat records of equal labels), but a loader that
    does not shuffle or reshuffle is seen: two shuffled orders give the same 10-class label
    sequence of 4,096 records with probability ~0."""
    per_epoch = num_records // batch_size
    epochs: list[list[np.ndarray]] = [[], []]
    for number, batch in enumerate(batches):
        if number >= 2 * per_epoch:
            break
        epochs[number // per_epoch].append(np.asarray(batch["label"]))
    expected = per_epoch * batch_size
    stored = np.asarray(stored_labels)
    sequences = [np.concatenate(e) if e else np.zeros(0, stored.dtype) for e in epochs]
    for epoch, labels in enumerate(sequences, start=1):
        if len(labels) != expected:
            return f"epoch {epoch} holds {len(labels)} records; expected {expected}"
        if num_records % batch_size == 0 and not np.array_equal(np.sort(labels), np.sort(stored)):
            return f"epoch {epoch}'s labels are not the stored records' labels: records are missing or repeated"
    if np.array_equal(sequences[0], stored[:expected]):
        return "epoch 1's labels come in the stored records' order: the loader does not shuffle"
    if np.array_equal(sequences[0], sequences[1]):
        return "epochs 1 and 2 give the same label sequence: the loader does not reshuffle between epochs"
    return None
