"""IO-1 source backends per peer: each variant is read conformantly, or declined with a reason.

The ArrayRecord and Parquet files are written once by the shared writers (``adapters._formats``)
and read back by every loader that has a reader for them; the bytes must be the stored records.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adapters import _formats, load_adapter
from scenarios import get_scenario
from tests.scenarios.adapters_under_test import job_for

SCENARIO = get_scenario("IO-1")
VARIANTS = {"npy": "small", "memory": "small-memory", "array_record": "small-array_record", "parquet": "small-parquet"}
# What each peer reads; every other backend must be declined with its reason.
READS = {
    "grain": {"npy", "memory", "array_record", "parquet"},
    "tfdata": {"npy", "memory"},
    "torch": {"npy", "memory", "array_record", "parquet"},
    "dali": {"npy", "memory", "array_record", "parquet"},
    "ray": {"npy", "memory", "array_record", "parquet"},
    "spdl": {"npy", "memory", "array_record", "parquet"},
    "jax_dataloader": {"npy", "memory"},
    "hf_datasets": {"npy", "memory", "parquet"},
    "webdataset": {"npy"},
    "litdata": {"npy"},
    "deeplake": {"npy"},
}
CONFORMANCE = [(peer, backend) for peer, backends in READS.items() for backend in sorted(backends - {"npy"})]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("io1-peers")


@pytest.mark.parametrize("peer", sorted(READS))
def test_each_backend_is_read_or_declined_with_a_reason(peer):
    adapter = load_adapter(peer)
    for backend, variant in VARIANTS.items():
        reason = adapter.supports(SCENARIO, SCENARIO.variant(variant))
        if backend in READS[peer]:
            assert reason is None, (backend, reason)
        else:
            assert reason and len(reason) > 20, (backend, reason)


@pytest.fixture(scope="module")
def peers():
    """One adapter per loader for the module (Ray starts once), closed at the end."""
    opened: dict = {}
    yield lambda name: opened.setdefault(name, load_adapter(name))
    for adapter in opened.values():
        adapter.close()


@pytest.mark.parametrize("peer, backend", CONFORMANCE)
def test_peer_reads_the_backend_conformantly(peer, backend, root, peers):
    adapter = peers(peer)
    job = job_for("IO-1", VARIANTS[backend], root)
    adapter.prepare(job)
    iterator = adapter.open(job)
    try:
        batches = [{k: np.asarray(v) for k, v in b.items()} for b in itertools.islice(iterator, 2)]
    finally:
        getattr(iterator, "close", lambda: None)()
    assert len(batches) == 2
    for batch in batches:
        assert SCENARIO.check_batch(job.variant, batch, job.arrays()) is None


def test_the_shared_files_hold_the_stored_records(root):
    job = job_for("IO-1", "small-array_record", root)
    stored = job.arrays()
    ids = np.array([5, 0, 8191, 17])
    from_array_record = _formats.ArrayRecordRecords(_formats.array_record_file(job)).gather(ids)

    import pyarrow.parquet as pq

    path = _formats.parquet_file(job)
    assert pq.ParquetFile(path).metadata.num_row_groups == 8192 // _formats.PARQUET_ROW_GROUP
    from_parquet = _formats.arrow_to_numpy(pq.read_table(path).take(ids), _formats.parquet_shapes(path))
    from_parquet_records = _formats.ParquetRecords(path).gather(ids)
    for got in (from_array_record, from_parquet, from_parquet_records):
        assert set(got) == set(stored)
        for name, column in stored.items():
            assert got[name].dtype == column.dtype
            np.testing.assert_array_equal(got[name], column[ids])


def test_datarax_reads_the_shared_array_record_file(root):
    from datarax.sources import ArrayRecordSource, ArrayRecordSourceConfig

    job = job_for("IO-1", "small-array_record", root)
    load_adapter("datarax").prepare(job)
    source = ArrayRecordSource(ArrayRecordSourceConfig(paths=str(_formats.array_record_file(job))))
    ids = np.array([3, 1, 4])
    for name, column in job.arrays().items():
        np.testing.assert_array_equal(source.gather(ids)[name], column[ids])
