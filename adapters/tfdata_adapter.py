"""tf.data: shuffled ids → parallel per-element map in TF ops → batch → vectorized map → prefetch.

The tf.data performance guide's shape: random per-record work (crops, flips) runs element by
element in ``map(num_parallel_calls=AUTOTUNE)`` with stateless random ops keyed by (seed,
epoch, record id); deterministic work is vectorized after ``batch`` (same values, one op per
batch). ``autotune.cpu_budget`` and the private thread pool are set to the job's CPU budget.
The data is copied into TF tensors once per adapter (what ``from_tensor_slices`` does too),
from the memory-mapped files or, for IO-1's ``memory`` backend, from arrays loaded into RAM.

Delivery: tf.data has no JAX device idiom (its ``prefetch_to_device`` targets TensorFlow's
devices, which are hidden from it here), so ``as_numpy_iterator`` batches go through the shared
overlapped ``jax.device_put`` (``adapters._delivery``).
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterator

from adapters import _formats
from adapters._delivery import deliver
from adapters.base import Job, LibraryAdapter
from scenarios import Transform
from scenarios.reference import STOCHASTIC

SUPPORTED = frozenset(
    {"random_resized_crop", "random_horizontal_flip", "normalize", "shift_tokens", "standardize", "multiply", "add", "clip"}
)


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")  # the data pipeline must not claim accelerator memory
    return tf


def _crop_box(tf, u, height: int, width: int, scale, ratio):
    """RandomResizedCrop's box from 22 uniforms: the first of 10 tries that fits, else the centre."""
    area = float(height * width)
    target = area * (scale[0] + (scale[1] - scale[0]) * u[0:20:2])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = tf.exp(log_lo + (log_hi - log_lo) * u[1:20:2])
    w = tf.cast(tf.round(tf.sqrt(target * aspect)), tf.int32)
    h = tf.cast(tf.round(tf.sqrt(target / aspect)), tf.int32)
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    in_ratio = width / height
    fb_h = round(width / ratio[0]) if in_ratio < ratio[0] else height
    fb_w = round(height * ratio[1]) if in_ratio > ratio[1] else width
    found = tf.reduce_any(fits)
    crop_h = tf.where(found, h[first], fb_h)
    crop_w = tf.where(found, w[first], fb_w)
    top = tf.where(found, tf.cast(u[20] * tf.cast(height - crop_h + 1, tf.float32), tf.int32), (height - fb_h) // 2)
    left = tf.where(found, tf.cast(u[21] * tf.cast(width - crop_w + 1, tf.float32), tf.int32), (width - fb_w) // 2)
    return top, left, crop_h, crop_w


def _element_op(tf, t: Transform):
    """``fn(value, key) -> value``: one record's random transform in TF ops."""
    kw = t.kwargs
    if t.name == "random_resized_crop":

        def crop(image, key):
            u = tf.random.stateless_uniform([22], seed=key)
            height, width = image.shape[0], image.shape[1]
            top, left, h, w = _crop_box(tf, u, height, width, kw["scale"], kw["ratio"])
            window = tf.slice(image, tf.stack([top, left, 0]), tf.stack([h, w, -1]))
            return tf.image.resize(window, kw["size"], method="bilinear")

        return crop
    if t.name == "random_horizontal_flip":

        def flip(image, key):
            u = tf.random.stateless_uniform([], seed=key)
            return tf.cond(u < kw["p"], lambda: tf.reverse(image, [1]), lambda: image)

        return flip
    raise ValueError(f"{t.name} is not a random per-element transform")


def _batch_op(tf, t: Transform):
    """``fn(batch_value) -> value or dict``: a deterministic transform, vectorized over the batch."""
    kw = t.kwargs
    if t.name == "normalize":
        mean, std = tf.constant(kw["mean"], tf.float32), tf.constant(kw["std"], tf.float32)
        return lambda x: (tf.cast(x, tf.float32) * kw["scale"] - mean) / std
    if t.name == "standardize":
        mean, std = tf.constant(kw["mean"], tf.float32), tf.constant(kw["std"], tf.float32)
        return lambda x: (tf.cast(x, tf.float32) - mean) / std
    if t.name == "shift_tokens":
        return lambda w: {"inputs": w[:, :-1], "targets": w[:, 1:]}
    if t.name == "multiply":
        return lambda x: tf.cast(x, tf.float32) * kw["factor"]
    if t.name == "add":
        return lambda x: tf.cast(x, tf.float32) + kw["value"]
    if t.name == "clip":
        return lambda x: tf.clip_by_value(tf.cast(x, tf.float32), kw["low"], kw["high"])
    raise ValueError(f"{t.name} is not a deterministic transform")


class TfDataAdapter(LibraryAdapter):
    name = "tfdata"
    library, distribution = "tensorflow", "tensorflow-cpu"
    ops, ops_kind = SUPPORTED, "tf.data implementation"
    backend_reasons = {
        "array_record": "tf.data has no ArrayRecord reader here (array_record ships only a Python "
        "random-access source; no TensorFlow op reads it)",
        "parquet": "tf.data has no Parquet reader (that is tensorflow-io, not installed here)",
    }

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.distribution)
        except PackageNotFoundError:  # the full build instead of the CPU one
            return version("tensorflow")

    def load(self) -> None:
        _tf()

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        return deliver(self.cached(job, lambda: self._dataset(job)).as_numpy_iterator(), job)

    def _dataset(self, job: Job):
        """The job's ``tf.data.Dataset``, defined once (its functions traced once); every
        iterator over it starts the same seeded stream."""
        tf = _tf()
        data = {k: tf.constant(a) for k, a in _formats.arrays(job).items()}
        variant = job.variant
        transforms = job.scenario.transforms(variant)
        random_steps = max((i + 1 for i, t in enumerate(transforms) if t.name in STOCHASTIC), default=0)
        per_element = [(t.field, _element_op(tf, t)) for t in transforms[:random_steps]]
        per_batch = [(t.field, _batch_op(tf, t)) for t in transforms[random_steps:]]
        n, batch_size = variant.num_records, variant.batch_size
        used = n // batch_size * batch_size  # every epoch drops the same remainder

        def element(position, record_id):
            counter = position // used * n + record_id  # (epoch, record id), unique
            record = {k: tf.gather(v, record_id) for k, v in data.items()}
            for step, (field, fn) in enumerate(per_element):
                key = tf.stack([tf.constant(job.seed * 64 + step, tf.int64), counter])
                record[field] = fn(record[field], key)
            return record

        def vectorized(batch):
            batch = dict(batch)
            for field, fn in per_batch:
                out = fn(batch.pop(field))
                batch.update(out if isinstance(out, dict) else {field: out})
            return batch

        def epoch_ids(epoch):
            ids = tf.range(n, dtype=tf.int64)
            if job.shuffle:  # stateless: epoch e's order is fixed, whichever iterator asks for it
                ids = tf.random.experimental.stateless_shuffle(ids, seed=tf.stack([tf.constant(job.seed, tf.int64), epoch]))
            return tf.data.Dataset.from_tensor_slices(ids[:used])

        ds = tf.data.Dataset.range(2**62).flat_map(epoch_ids).enumerate()
        if per_element:
            ds = ds.map(element, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
        else:  # nothing random: gather whole batches (the guide's "vectorized map")
            ds = ds.batch(batch_size, drop_remainder=True).map(lambda p, i: {k: tf.gather(v, i) for k, v in data.items()})
        if per_batch:
            ds = ds.map(vectorized, num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.deterministic = True
        options.autotune.cpu_budget = job.cpu_budget
        options.threading.private_threadpool_size = job.cpu_budget
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
