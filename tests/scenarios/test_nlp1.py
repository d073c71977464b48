import numpy as np
import pytest

from scenarios import get_scenario
from scenarios.reference import apply_transforms

SCENARIO = get_scenario("NLP-1")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def data():
    return SCENARIO.generate(SMALL, 0)


def _batch(data, ids=None):
    ids = np.arange(SMALL.batch_size) if ids is None else ids
    return apply_transforms({k: v[ids] for k, v in data.items()}, SCENARIO.transforms(SMALL), None)


def test_generation_is_deterministic_seeded_and_in_vocab(data):
    assert data["tokens"].shape == (8192, 129) and data["tokens"].dtype == np.int32
    assert data["tokens"].tobytes() == SCENARIO.generate(SMALL, 0)["tokens"].tobytes()
    assert data["tokens"].tobytes() != SCENARIO.generate(SMALL, 1)["tokens"].tobytes()
    assert 0 <= data["tokens"].min() and data["tokens"].max() < 32000
    # Skewed like real token ids: low ids far more frequent than high ones.
    assert (data["tokens"] < 3200).mean() > 0.4


def test_shift_tokens_replaces_the_window_with_inputs_and_targets(data):
    batch = _batch(data, np.array([5, 0, 7]))
    assert set(batch) == {"inputs", "targets"}
    np.testing.assert_array_equal(batch["inputs"], data["tokens"][[5, 0, 7], :-1])
    np.testing.assert_array_equal(batch["targets"], data["tokens"][[5, 0, 7], 1:])


def test_reference_batch_is_conformant(data):
    assert SCENARIO.check_batch(SMALL, _batch(data)) is None


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b: b.pop("targets"), "fields"),
        (lambda b: b.update(inputs=b["inputs"][:, :-1]), "shape"),
        (lambda b: b.update(targets=b["targets"].astype(np.int64)), "dtype"),
        (lambda b: b.update(targets=b["inputs"].copy()), "shifted"),
        (lambda b: b.update(inputs=b["inputs"] + 32000), "outside"),
    ],
)
def test_broken_batches_are_named(data, corrupt, message):
    batch = _batch(data)
    corrupt(batch)
    assert message in SCENARIO.check_batch(SMALL, batch)


def test_variants_grow_and_hash_differently():
    sizes = [SCENARIO.variant(n).num_records * SCENARIO.variant(n).param("seq_len") for n in ("small", "medium", "large")]
    assert sizes == sorted(sizes)
    assert SCENARIO.spec_hash(SMALL) != SCENARIO.spec_hash(SCENARIO.variant("medium"))
