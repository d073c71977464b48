"""The executor: background gather, one compile per batch shape, errors and shutdown."""

import gc
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax import Pipeline
from datarax.operators import ElementOperator, ElementOperatorConfig, OperatorConfig, OperatorModule
from datarax.sources import MemorySource


def _source(n=40):
    return MemorySource(data={"x": np.arange(n, dtype=np.float32), "id": np.arange(n, dtype=np.int32)})


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "datarax-prefetch" and t.is_alive()]


def _wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


class CountingSource(MemorySource):
    """Counts gathers; raises on the ``fail_at``-th one."""

    def __init__(self, n=40, fail_at=None):
        super().__init__(data={"x": np.arange(n, dtype=np.float32)})
        self.calls, self.fail_at = [0], fail_at

    def gather(self, record_ids, *, epoch=0):
        self.calls[0] += 1
        if self.calls[0] == self.fail_at:
            raise OSError(f"disk vanished at gather {self.fail_at}")
        return super().gather(record_ids, epoch=epoch)


RUN_MODES = [
    dict(prefetch=0), dict(prefetch=2), dict(prefetch=2, prefetch_thread=True),
    dict(batches_per_step=3), dict(batches_per_step=3, prefetch_thread=True), dict(batches_per_step=8),
]


class Jitter(OperatorModule):
    """A stochastic batch-level stage: adds one draw per record, keyed by (record id, epoch)."""

    def apply_batch(self, batch, record_ids, epoch):
        keys = jax.vmap(lambda r: jax.random.fold_in(jax.random.fold_in(jax.random.key(7), r), epoch))(record_ids)
        return {**batch, "x": batch["x"] + jax.vmap(jax.random.uniform)(keys)}


@pytest.mark.parametrize("mode", RUN_MODES, ids=lambda m: ",".join(f"{k}={v}" for k, v in m.items()))
def test_how_batches_are_produced_changes_nothing(mode):
    """Inline or threaded, one batch per step or chunks that cross epochs and pad the tail:
    the same batches, as jax arrays. 5 batches per epoch x 2 epochs; chunks of 3 cross the
    epoch boundary and the last chunk (1 batch) is padded."""

    def run(**options):
        return list(Pipeline(_source(), [Jitter(OperatorConfig())], batch_size=8, shuffle=True, seed=2,
                             num_epochs=2, **options))

    reference, other = run(prefetch=0, batches_per_step=1), run(**mode)
    assert len(other) == len(reference) == 10
    assert all(isinstance(v, jax.Array) for b in other for v in b.values())
    for a, b in zip(reference, other):
        np.testing.assert_array_equal(a["id"], b["id"])
        np.testing.assert_array_equal(a["x"], b["x"])
    epochs = [np.sort(np.asarray(b["id"])) for b in other]
    assert sorted(np.concatenate(epochs[:5])) == sorted(np.concatenate(epochs[5:])) == list(range(40))


def test_chunks_are_sized_by_bytes_and_stay_single_for_trainable_stages():
    small = Pipeline(_source(), [], batch_size=4)
    assert small.plan.batches_per_step == 16  # 8-byte records: the cap
    fields = {f"f{i}": np.zeros(40, np.float32) for i in range(8)}
    assert Pipeline(MemorySource(data=fields), [], batch_size=4).plan.batches_per_step == 4  # 32 arrays
    big = Pipeline(MemorySource(data={"image": np.zeros((8, 256, 256, 3), np.uint8)}), [], batch_size=4)
    assert big.plan.batches_per_step is None  # 786 KiB batches: one per step

    class Scale(nnx.Module):
        def __init__(self):
            self.factor = nnx.Param(jnp.float32(2.0))

        def __call__(self, batch):
            return {**batch, "x": batch["x"] * self.factor[...]}

    trained = Pipeline(_source(), [Scale()], batch_size=4, prefetch=0)
    iterator = iter(trained)
    assert [float(next(iterator)["x"][0]) for _ in range(2)] == [0.0, 8.0]
    assert iterator.stage_times()["dispatch_batches"] == 2  # one step per batch, run in next()
    with pytest.raises(ValueError, match="batches_per_step"):
        Pipeline(_source(), [], batch_size=4, batches_per_step=0)


@pytest.mark.parametrize("threaded", [False, True])
def test_the_host_side_runs_ahead_of_the_consumer(threaded):
    source = CountingSource()
    iterator = iter(Pipeline(source, [], batch_size=4, prefetch=2, batches_per_step=1, prefetch_thread=threaded))
    next(iterator)
    # One batch consumed: inline, two more are dispatched before next() returns; the thread
    # fills its queue (2) and holds one more, ready to put.
    assert _wait_until(lambda: source.calls[0] >= 3)
    iterator.close()


def test_with_chunks_the_next_chunk_is_dispatched_as_the_current_one_starts():
    source = CountingSource(n=400)
    iterator = iter(Pipeline(source, [], batch_size=4, prefetch=2, batches_per_step=8))
    next(iterator)  # chunk 1 handed out from; chunk 2 gathered and dispatched behind it
    assert source.calls[0] == 2
    for _ in range(7):
        next(iterator)
    assert source.calls[0] == 2  # chunk 1's batches did not need chunk 3
    next(iterator)  # the first of chunk 2: chunk 3 goes out
    assert source.calls[0] == 3
    iterator.close()


def test_a_second_iterator_reuses_the_compiled_step():
    traces = []

    def double(element, key):
        traces.append(1)  # runs only while tracing
        return element.update_data({"x": element.data["x"] * 2})

    pipeline = Pipeline(_source(), [ElementOperator(ElementOperatorConfig(), fn=double)], batch_size=8)
    for _ in range(2):
        iterator = iter(pipeline)
        next(iterator), next(iterator)
        iterator.close()
    assert len(traces) == 1


@pytest.mark.parametrize("threaded", [False, True])
def test_a_producer_error_is_raised_in_the_consumer_and_ends_the_iterator(threaded):
    # Prefetching 2 ahead, gather 3 fails before batch 1 is handed out; batches 1 and 2 still come.
    iterator = iter(Pipeline(CountingSource(fail_at=3), [], batch_size=4, batches_per_step=1, prefetch=2,
                             prefetch_thread=threaded))
    next(iterator), next(iterator)
    with pytest.raises(OSError, match="disk vanished at gather 3"):
        next(iterator)
    with pytest.raises(StopIteration):
        next(iterator)
    assert _wait_until(lambda: not _prefetch_threads())


def test_close_and_garbage_collection_stop_the_thread():
    pipeline = Pipeline(_source(), [], batch_size=4, prefetch_thread=True)  # endless
    iterator = iter(pipeline)
    next(iterator)
    iterator.close()
    assert _wait_until(lambda: not _prefetch_threads())
    for _, _batch in zip(range(2), pipeline):  # abandoned mid-stream, never closed
        pass
    gc.collect()
    assert _wait_until(lambda: not _prefetch_threads())


def test_bounded_and_endless_epochs():
    assert len(list(Pipeline(_source(), [], batch_size=8, num_epochs=3))) == 15
    endless = iter(Pipeline(_source(), [], batch_size=8, shuffle=True))
    ids = np.concatenate([np.asarray(next(endless)["id"]) for _ in range(12)])
    assert sorted(ids[:40]) == sorted(ids[40:80]) == list(range(40))
    endless.close()


def test_a_padded_last_batch_keeps_the_shape_and_marks_padding():
    pipeline = Pipeline(_source(10), [], batch_size=4, shuffle=True, drop_remainder=False, num_epochs=1)
    batches = list(pipeline)
    assert [b["id"].shape for b in batches] == [(4,)] * 3
    valid = np.concatenate([np.asarray(b["valid"]) for b in batches])
    ids = np.concatenate([np.asarray(b["id"]) for b in batches])[valid]
    assert valid.sum() == 10 and sorted(ids) == list(range(10))


class DropFirstRecord(OperatorModule):
    def apply_batch(self, batch, record_ids, epoch):
        return {k: v[1:] for k, v in batch.items()}


class ReturnsList(OperatorModule):
    def apply_batch(self, batch, record_ids, epoch):
        return list(batch.values())


def test_an_operator_that_changes_the_batch_dimension_is_named():
    with pytest.raises(ValueError, match=r"stage DropFirstRecord changed the batch dimension"):
        next(iter(Pipeline(_source(), [DropFirstRecord(OperatorConfig())], batch_size=4)))


def test_a_non_dict_stage_output_is_named():
    with pytest.raises(TypeError, match="returned list, expected a dict batch"):
        next(iter(Pipeline(_source(), [ReturnsList(OperatorConfig())], batch_size=4)))


def test_bad_pipeline_arguments_are_named():
    with pytest.raises(ValueError, match="prefetch"):
        Pipeline(_source(), [], batch_size=4, prefetch=-1)
    with pytest.raises(TypeError, match="source must be a DataSourceModule"):
        Pipeline({"x": np.zeros(4)}, [], batch_size=2)
    with pytest.raises(TypeError, match="a pipeline stage must be"):
        Pipeline(_source(), [lambda batch: batch], batch_size=2)


def test_a_batch_dependent_source_is_gathered_one_batch_at_a_time():
    class WidthOfTheCall(MemorySource):
        """Pads each call to its longest id, like a ragged source padding to the batch max."""

        batch_dependent = True

        def gather(self, record_ids, *, epoch=0):
            out = super().gather(record_ids, epoch=epoch)
            return {**out, "pad": np.zeros((len(record_ids), int(record_ids.max()) + 1), np.int32)}

    pipeline = Pipeline(WidthOfTheCall(data={"id": np.arange(40, dtype=np.int32)}), [], batch_size=4, num_epochs=1)
    widths = [b["pad"].shape[1] for b in pipeline]
    assert widths == [4 * k + 4 for k in range(10)]  # each batch's own max, never a chunk's


class _Misaligned(MemorySource):
    """Returns its rows from buffers 16 bytes past a 64-byte boundary (what malloc may give)."""

    def gather(self, record_ids, *, epoch=0):
        out = {}
        for name, rows in super().gather(record_ids, epoch=epoch).items():
            raw = np.empty(rows.nbytes + 128, np.uint8)
            start = -raw.ctypes.data % 64 + 16
            out[name] = raw[start:start + rows.nbytes].view(rows.dtype).reshape(rows.shape)
            out[name][...] = rows
        return out


def test_chunks_hand_large_arrays_to_the_step_aligned_from_any_source():
    from datarax.dag.executor import host_chunks
    from datarax.dag.monitor import StageTimes
    from datarax.samplers.sampler import IndexSampler, SamplerConfig

    x = np.arange(64 * 1024, dtype=np.float32).reshape(256, 256)  # 64 KiB a batch of 64
    source = _Misaligned(data={"x": x})
    sampler = IndexSampler(SamplerConfig(num_records=256, batch_size=64))
    for per_step in (None, 2):
        chunk = next(host_chunks(sampler, source, [], (0, 0), None, StageTimes(), per_step))
        batch = chunk.arrays[0]
        assert batch["x"].ctypes.data % 64 == 0
        np.testing.assert_array_equal(batch["x"].reshape(-1, 256), x[chunk.record_ids.reshape(-1)])
