import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import Rewrite, first_problem, job_for

SCENARIO = get_scenario("IO-1")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("io1")


def test_every_size_has_every_backend_and_the_same_records():
    for size in ("small", "medium", "large"):
        backends = {SCENARIO.variant(n).param("backend") for n in SCENARIO.variants if n.split("-")[0] == size}
        assert backends == {"npy", "memory", "array_record", "parquet"}
    npy, parquet = SCENARIO.variant("small"), SCENARIO.variant("small-parquet")
    a, b = SCENARIO.generate(npy, 0), SCENARIO.generate(parquet, 0)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)  # only the storage differs
    assert a["payload"].tobytes() != SCENARIO.generate(npy, 1)["payload"].tobytes()


@pytest.mark.parametrize("variant", ["small", "small-memory", "small-array_record", "small-parquet"])
def test_datarax_reads_every_supported_backend_conformantly(root, variant):
    assert first_problem(load_adapter("datarax"), job_for("IO-1", variant, root)) is None


def test_unsupported_backends_say_why():
    parquet = SCENARIO.variant("small-parquet")
    assert load_adapter("datarax").supports(SCENARIO, parquet) is None
    assert "not 'parquet'" in load_adapter("numpy").supports(SCENARIO, parquet)
    assert load_adapter("numpy").supports(SCENARIO, SCENARIO.variant("small-memory")) is None


def _flip_byte(batch):
    payload = batch["payload"].copy()
    payload[3, 7] ^= 1
    return {**batch, "payload": payload}


@pytest.mark.parametrize(
    "edit, message",
    [
        (_flip_byte, "field 'payload' differs from the reference at (3, 7)"),
        (lambda b: {**b, "label": np.roll(b["label"], 1)}, "field 'label' differs"),
        (lambda b: {**b, "index": b["index"] + 10**7}, "outside [0, 8192)"),
        (lambda b: {k: v[:-2] for k, v in b.items()}, "shape"),
        (lambda b: {**b, "payload": b["payload"].astype(np.int16)}, "dtype"),
    ],
)
def test_wrong_rows_are_caught(root, edit, message):
    assert message in first_problem(Rewrite(edit), job_for("IO-1", "small", root))
