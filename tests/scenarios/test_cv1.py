import numpy as np
import pytest

from scenarios import SCENARIOS, get_scenario
from scenarios.reference import REFERENCE


def _reference_batch(scenario, variant, seed=0):
    data = scenario.generate(variant, seed)
    ids = np.arange(variant.batch_size)
    batch = {k: v[ids] for k, v in data.items()}
    rng = np.random.default_rng(0)
    for t in scenario.transforms(variant):
        batch[t.field] = REFERENCE[t.name](batch[t.field], rng, **t.kwargs)
    return batch


def test_generation_is_deterministic_and_seed_dependent():
    s = get_scenario("CV-1")
    v = s.variant("small")
    a, b, c = s.generate(v, 0), s.generate(v, 0), s.generate(v, 1)
    for k in a:
        assert a[k].tobytes() == b[k].tobytes()
    assert a["image"].tobytes() != c["image"].tobytes()
    assert a["image"].dtype == np.uint8 and a["image"].shape == (4096, 32, 32, 3)


def test_reference_batch_is_conformant():
    s = get_scenario("CV-1")
    v = s.variant("small")
    assert s.check_batch(v, _reference_batch(s, v)) is None


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda b: b.pop("label"), "fields"),
        (lambda b: b.update(image=b["image"][:-1]), "shape"),
        (lambda b: b.update(image=b["image"].astype(np.float64)), "dtype"),
        (lambda b: b.update(image=b["image"] * 255), "normalized range"),
        (lambda b: b.update(label=b["label"] + 1000), "label"),
    ],
)
def test_broken_batches_are_named(corrupt, message):
    s = get_scenario("CV-1")
    v = s.variant("small")
    batch = _reference_batch(s, v)
    corrupt(batch)
    assert message in s.check_batch(v, batch)


def test_unknown_ids_list_the_valid_ones():
    with pytest.raises(KeyError, match="CV-1"):
        get_scenario("CV-99")
    with pytest.raises(KeyError, match="small"):
        SCENARIOS["CV-1"].variant("huge")


def test_spec_hash_changes_with_the_variant():
    s = get_scenario("CV-1")
    assert s.spec_hash(s.variant("small")) != s.spec_hash(s.variant("medium"))
    assert s.spec_hash(s.variant("small")) == s.spec_hash(s.variant("small"))
