"""The executor's own monitoring: per-stage counters and the compiled step's XLA cost."""

import jax.numpy as jnp
from flax import nnx
import numpy as np
import pytest

from datarax import Pipeline
from datarax.operators import ElementOperator, ElementOperatorConfig
from datarax.sources import MemorySource

# RGB -> YUV: a fixed 3x3 colour matrix applied to every pixel.
YUV = np.array([[0.299, 0.587, 0.114], [-0.147, -0.289, 0.436], [0.615, -0.515, -0.100]], np.float32)
B, H, W = 8, 32, 48


def _pipeline(**options):
    def to_yuv(element, key=None):
        return element.update_data({"image": element.data["image"] @ jnp.asarray(YUV).T})

    data = {"image": np.random.default_rng(0).random((64, H, W, 3), np.float32), "label": np.arange(64, dtype=np.int32)}
    return Pipeline(MemorySource(data=data), [ElementOperator(ElementOperatorConfig(), fn=to_yuv)], batch_size=B, **options)


def test_xla_cost_of_a_colour_matrix_is_the_analytic_count():
    cost = _pipeline().compiled_cost()
    # Per pixel: 3 outputs x 3 multiply-adds = 2 * 9 FLOPs; nothing else in the step computes.
    assert cost["flops"] == 2 * 9 * H * W * B
    image_bytes = B * H * W * 3 * 4
    assert 2 * image_bytes <= cost["bytes_accessed"] <= 2 * image_bytes + 1024  # read + written, plus labels
    assert cost["transcendentals"] == 0


@pytest.mark.parametrize("threaded", [False, True])
def test_every_iterator_counts_its_stages(threaded):
    pipeline = _pipeline(prefetch_thread=threaded, time_stages=True)
    iterator = iter(pipeline)
    for _ in range(5):
        next(iterator)
    times = iterator.stage_times()
    iterator.close()
    assert times["gather_batches"] >= 5 and times["step_batches"] >= 5  # prefetched ones too
    assert times["gather_s"] > 0 and times["step_s"] > 0
    # Frozen stages: the step is dispatched with NumPy inputs, no separate transfer.
    assert "host_to_device_s" not in times and "dispatch_s" not in times
    # queue_wait exists only when a thread fills a queue.
    assert ("queue_wait_batches" in times) == threaded
    assert pipeline.get_state()["batch_index"] == 5  # counting changes nothing in the stream


def test_live_stages_transfer_first_and_step_on_demand():
    pipeline = _pipeline()
    pipeline.stages[0].scale = nnx.Param(jnp.ones(()))  # a trainable variable: steps run in next()
    iterator = iter(pipeline)
    next(iterator), next(iterator)
    times = iterator.stage_times()
    iterator.close()
    assert times["host_to_device_batches"] >= 2 and times["dispatch_batches"] == 2


def test_the_step_is_counted_only_when_waited_for():
    iterator = iter(_pipeline())
    next(iterator)
    times = iterator.stage_times()
    assert "step_s" not in times and {"gather_s", "dispatch_s"} <= set(times)
    with pytest.raises(TypeError, match="time_stages"):
        _pipeline(time_stages="yes")
