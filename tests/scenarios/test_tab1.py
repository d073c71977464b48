import numpy as np
import pytest

from scenarios import get_scenario
from scenarios.reference import apply_transforms
from scenarios.tabular import column_stats

SCENARIO = get_scenario("TAB-1")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def data():
    return SCENARIO.generate(SMALL, 0)


def _batch(data, start=0):
    ids = np.arange(start, start + SMALL.batch_size)
    return apply_transforms({k: v[ids] for k, v in data.items()}, SCENARIO.transforms(SMALL), None)


def test_generation_is_deterministic_and_seeded(data):
    assert data["features"].shape == (65536, 64) and data["features"].dtype == np.float32
    assert data["label"].dtype == np.int32 and set(np.unique(data["label"])) == {0, 1}
    again, other = SCENARIO.generate(SMALL, 0), SCENARIO.generate(SMALL, 1)
    assert data["features"].tobytes() == again["features"].tobytes()
    assert data["features"].tobytes() != other["features"].tobytes()


def test_transform_parameters_are_exact_and_match_the_data(data):
    (t,) = SCENARIO.transforms(SMALL)
    mean, std = column_stats(64)
    assert t.kwargs == {"mean": mean, "std": std}
    assert np.float32(mean).tolist() == list(mean)  # float32-representable: no rounding drift
    # The same parameters whatever the data seed; the data follows them.
    np.testing.assert_allclose(data["features"].mean(axis=0), mean, atol=0.05 * max(std))
    np.testing.assert_allclose(data["features"].std(axis=0), std, rtol=0.03)


def test_standardize_is_exact_float32(data):
    batch = _batch(data)
    mean, std = (np.asarray(v, np.float32) for v in column_stats(64))
    expected = (data["features"][: SMALL.batch_size] - mean) / std
    np.testing.assert_array_equal(batch["features"], expected)
    assert batch["features"].dtype == np.float32


@pytest.mark.parametrize("start", [0, 512, 60000])
def test_reference_batches_are_conformant(data, start):
    assert SCENARIO.check_batch(SMALL, _batch(data, start)) is None


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b, raw: b.pop("label"), "fields"),
        (lambda b, raw: b.update(features=b["features"].astype(np.float64)), "dtype"),
        (lambda b, raw: b.update(features=raw), "standardized"),
        (lambda b, raw: b.update(features=b["features"] + 0.5), "column mean"),
        (lambda b, raw: b.update(features=b["features"] * 1.5), "column std"),
        (lambda b, raw: b.update(features=np.full_like(b["features"], np.nan)), "non-finite"),
        (lambda b, raw: b.update(label=b["label"] + 2), "label"),
    ],
)
def test_broken_batches_are_named(data, corrupt, message):
    batch = _batch(data)
    corrupt(batch, data["features"][: SMALL.batch_size])
    assert message in SCENARIO.check_batch(SMALL, batch)
