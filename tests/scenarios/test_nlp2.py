import time

import numpy as np
import pytest

from adapters import load_adapter
from bench.measure import NonConformant, measure
from datarax.sources import RaggedSource, RaggedSourceConfig
from scenarios import get_scenario
from scenarios.reference.text import bucketed_width
from tests.scenarios.adapters_under_test import Rewrite, first_problem, job_for

SCENARIO = get_scenario("NLP-2")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("nlp2")


def test_generation_is_ragged_skewed_seeded_and_fast():
    start = time.perf_counter()
    data = SCENARIO.generate(SMALL, 0)
    assert time.perf_counter() - start < 10
    lengths = np.diff(data["offsets"])
    assert data["offsets"][0] == 0 and data["offsets"][-1] == len(data["tokens"]) and len(lengths) == 8192
    assert lengths.min() >= 1 and lengths.max() <= 512 and np.median(lengths) < lengths.mean() < 128
    assert (data["tokens"] > 0).all()  # 0 is padding
    assert data["tokens"].tobytes() == SCENARIO.generate(SMALL, 0)["tokens"].tobytes()
    assert data["offsets"].tobytes() != SCENARIO.generate(SMALL, 1)["offsets"].tobytes()


def test_bucketed_width_rounds_up_and_caps():
    assert [bucketed_width(np.array([n]), 32, 100) for n in (1, 32, 33, 99, 100)] == [32, 32, 64, 100, 100]


def test_ragged_source_pads_each_gather_to_its_bucket(tmp_path):
    flat = np.arange(1, 101, dtype=np.int32)
    offsets = np.array([0, 3, 3 + 40, 100], np.int64)  # lengths 3, 40, 57
    for name, array in (("flat", flat), ("offsets", offsets), ("index", np.arange(3, dtype=np.int32))):
        np.save(tmp_path / f"{name}.npy", array)
    source = RaggedSource(RaggedSourceConfig(
        tokens=tmp_path / "flat.npy", offsets=tmp_path / "offsets.npy", columns={"index": tmp_path / "index.npy"},
        bucket_size=16, max_len=48, pad_value=-1,
    ))
    assert len(source) == 3
    out = source.gather(np.array([1, 0]))
    assert out["tokens"].shape == (2, 48) and out["length"].tolist() == [40, 3] and out["index"].tolist() == [1, 0]
    np.testing.assert_array_equal(out["tokens"][1], [1, 2, 3] + [-1] * 45)
    np.testing.assert_array_equal(out["tokens"][0, :40], np.arange(4, 44))
    assert source.gather(np.array([0]))["tokens"].shape == (1, 16)
    assert source.gather(np.array([2]))["length"].tolist() == [48]  # truncated to max_len
    np.save(tmp_path / "bad.npy", np.array([0, 5, 2, 100], np.int64))
    with pytest.raises(ValueError, match="offsets must rise"):
        RaggedSource(RaggedSourceConfig(tokens=tmp_path / "flat.npy", offsets=tmp_path / "bad.npy"))


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant_with_varying_widths(root, adapter):
    job = job_for("NLP-2", "small", root)
    assert first_problem(load_adapter(adapter), job, batches=4) is None
    loader = load_adapter(adapter)
    try:
        widths = {np.asarray(batch["tokens"]).shape[1] for _, batch in zip(range(6), loader.open(job))}
    finally:
        loader.close()
    assert len(widths) > 1 and all(w % 32 == 0 for w in widths)


def _pad_to_max_len(batch):
    tokens = np.pad(batch["tokens"], ((0, 0), (0, 512 - batch["tokens"].shape[1])))
    mask = np.pad(batch["attention_mask"], ((0, 0), (0, 512 - batch["tokens"].shape[1])))
    return {**batch, "tokens": tokens, "attention_mask": mask}


@pytest.mark.parametrize(
    "edit, message",
    [
        (_pad_to_max_len, "expected"),
        (lambda b: {**b, "attention_mask": np.ones_like(b["attention_mask"])}, "field 'attention_mask' differs"),
        (lambda b: {**b, "tokens": np.where(b["attention_mask"], b["tokens"], 7)}, "past a record's length"),
        (lambda b: {**b, "index": np.roll(b["index"], 1)}, "differs from the reference"),
        (lambda b: {**b, "length": b["length"] - 1}, "differs"),
    ],
)
def test_wrong_adapters_are_caught(root, edit, message):
    assert message in first_problem(Rewrite(edit), job_for("NLP-2", "small", root))


def test_timing_accepts_legal_widths_and_rejects_a_wrong_one(root):
    job = job_for("NLP-2", "small", root)
    check = lambda batch: SCENARIO.check_batch(SMALL, batch, job.arrays())  # noqa: E731
    settings = dict(check=check, warmup_batches=1, batches=6, repetitions=1, cpu_clock=time.process_time)
    raw = measure(lambda: load_adapter("numpy").open(job), **settings)
    assert len(raw["latencies_s"][0]) == 6
    wrong_later = Rewrite(lambda b: _pad_to_max_len(b) if b["tokens"].shape[1] != 256 else b)
    with pytest.raises(NonConformant, match="width 512"):
        measure(lambda: wrong_later.open(job), **settings)
