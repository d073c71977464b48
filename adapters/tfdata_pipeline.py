"""The tf.data pipelines of the tf.data adapter: record ids → batched gather → vectorized map.

Shape, after the tf.data performance guide (https://www.tensorflow.org/guide/data_performance):
ids are batched first and every transform runs once per batch ("vectorize the map"), in
``map(num_parallel_calls=AUTOTUNE)`` on a private thread pool of ``job.cpu_budget`` threads with
``autotune.cpu_budget`` set to it, then ``prefetch(AUTOTUNE)`` overlaps production with the
consumer. The records are copied into TF tensors once per pipeline (what ``from_tensor_slices``
does), from the memory-mapped files or, for IO-1's ``memory`` backend, arrays in RAM.

The scenarios' graph shapes use tf.data's own operations: ``sample_from_datasets`` mixes IO-3's
sources, ``cache`` (in memory or in a file) keeps IO-4's transformed records, ``rebatch`` regroups
PC-3's source batches, ragged tensors gather NLP-2's variable-length records.

``order`` picks how an epoch's ids are drawn: ``"shuffle"``, tf.data's documented
``Dataset.range(n).shuffle(n, seed, reshuffle_each_iteration=True)``, streamed id by id into
``batch``; ``"permutation"``, one ``stateless_shuffle`` of the epoch's ids per epoch, cut into
batches by a vectorized reshape (no per-id element).
"""

from __future__ import annotations

import os

import numpy as np

from adapters import _formats
from adapters.base import Job
from adapters.tfdata_ops import apply

ORDERS = ("shuffle", "permutation")
CHUNK = 256  # records per vectorized map while filling IO-4's cache


def tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")  # the data pipeline must not claim accelerator memory
    return tf


def _view_seed(seed: int, view: int) -> int:
    return int(np.random.SeedSequence([seed, view]).generate_state(1)[0] & 0x7FFFFFFF)


def id_batches(tf, job: Job, order: str, num_records: int | None = None, seed: int | None = None):
    """``(counter, ids)`` per batch, epoch after epoch (each drops the same remainder);
    ``counter`` numbers the batches of the stream, the key of their random draws."""
    if order not in ORDERS:
        raise ValueError(f"order {order!r}; valid: {', '.join(ORDERS)}")
    n = job.variant.num_records if num_records is None else num_records
    seed = job.seed if seed is None else seed
    size = job.variant.batch_size
    per_epoch = n // size
    if order == "shuffle":
        ids = tf.data.Dataset.range(n)
        if job.shuffle:
            ids = ids.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        return ids.batch(size, drop_remainder=True).repeat().enumerate()

    def epoch(e):
        ids = tf.range(n, dtype=tf.int64)
        if job.shuffle:  # stateless: epoch e's order is fixed, whichever iterator asks for it
            ids = tf.random.experimental.stateless_shuffle(ids, seed=tf.stack([tf.constant(seed, tf.int64), e]))
        batches = tf.reshape(ids[: per_epoch * size], [per_epoch, size])
        return tf.data.Dataset.from_tensor_slices((e * per_epoch + tf.range(per_epoch, dtype=tf.int64), batches))

    return tf.data.Dataset.counter().flat_map(epoch)


def _options(tf, job: Job):
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.cpu_budget = job.cpu_budget
    options.threading.private_threadpool_size = job.cpu_budget
    return options


def _transform(tf, job: Job):
    """``fn(batch, counter) -> batch``: the scenario's transforms on one batch (PC-2: once per
    view with the view's own seed, stacked on axis 1)."""
    transforms = job.scenario.transforms(job.variant)
    views = dict(job.variant.params).get("views")

    def seed_of(seed, counter):
        return tf.stack([tf.constant(seed, tf.int64), tf.cast(counter, tf.int64)])

    def run(batch, counter):
        if views is None:
            return apply(tf, transforms, batch, seed_of(job.seed, counter))
        outs = [apply(tf, transforms, batch, seed_of(_view_seed(job.seed, v), counter)) for v in range(views)]
        changed = {t.field for t in transforms}
        return {k: (tf.stack([o[k] for o in outs], axis=1) if k in changed else outs[0][k]) for k in outs[0]}

    return run


def tensors(job: Job) -> dict:
    """The job's fields as TF tensors, copied once (a pipeline definition reuses them)."""
    tf = tensorflow()
    return {k: tf.constant(np.asarray(a)) for k, a in _formats.arrays(job).items()}


def reusable(job: Job, order: str) -> bool:
    """Whether one dataset object serves every fresh iterator with the same stream. A seeded
    ``shuffle`` draws its epochs from a generator the dataset object owns, so only pipelines
    without one (stateless permutations) and IO-4's (whose cache lives on the object) are
    reused; the others are defined again per iterator, over the same tensors."""
    params = dict(job.variant.params)
    return "cache" in params or (order == "permutation" and "weights" not in params)


def dataset(job: Job, order: str, arrays: dict, scratch=None):
    """The job's ``tf.data.Dataset`` of batches (dicts of tensors), endless and seeded, over
    ``arrays`` (:func:`tensors`). ``scratch``: a folder for IO-4's on-disk cache."""
    tf = tensorflow()
    params = dict(job.variant.params)
    if "weights" in params:
        ds = _mixed(tf, job, arrays, order)
    elif "offsets" in arrays:
        ds = _ragged(tf, job, arrays, order)
    elif "cache" in params:
        ds = _cached(tf, job, arrays, scratch)
    else:
        data = arrays
        transform = _transform(tf, job)

        def gather_and_transform(counter, ids):
            return transform({k: tf.gather(v, ids) for k, v in data.items()}, counter)

        if "source_batch" in params:  # PC-3: stored order, read in source batches, regrouped by rebatch
            n = job.variant.num_records
            ids = tf.data.Dataset.range(n).repeat().batch(params["source_batch"], drop_remainder=True).enumerate()
            ds = ids.map(gather_and_transform, num_parallel_calls=tf.data.AUTOTUNE)
            ds = ds.rebatch(job.variant.batch_size, drop_remainder=True)
        else:
            ids = id_batches(tf, job, "permutation" if params.get("ordered") else order)
            ds = ids.map(gather_and_transform, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.with_options(_options(tf, job)).prefetch(tf.data.AUTOTUNE)


def _mixed(tf, job: Job, arrays: dict, order: str):
    """IO-3: one shuffled id stream per source, mixed record by record by
    ``sample_from_datasets`` with the scenario's weights, then batched and gathered at once
    from the sources' fields stacked into one table (a record's row is its id plus its
    source's offset)."""
    names = sorted({k.split("_", 1)[0] for k in arrays})
    fields = sorted({k.split("_", 1)[1] for k in arrays})
    counts = [int(arrays[f"{d}_{fields[0]}"].shape[0]) for d in names]
    table = {f: tf.concat([arrays[f"{d}_{f}"] for d in names], axis=0) for f in fields}
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    streams = []
    for i, (d, n) in enumerate(zip(names, counts)):
        ids = tf.data.Dataset.range(n)
        if job.shuffle:
            ids = ids.shuffle(n, seed=job.seed * 16 + i, reshuffle_each_iteration=True)
        streams.append(ids.repeat().map(lambda r, start=int(offsets[i]): r + start))
    weights = list(job.variant.param("weights"))
    mixed = tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=job.seed)
    ds = mixed.batch(job.variant.batch_size, drop_remainder=True)
    return ds.map(lambda rows: {f: tf.gather(v, rows) for f, v in table.items()}, num_parallel_calls=tf.data.AUTOTUNE)


def _ragged(tf, job: Job, arrays: dict, order: str):
    """NLP-2: the token store as one ``RaggedTensor``; a batch gathers its rows (ragged) and
    pads them to the batch's bucketed width with ``to_tensor``."""
    offsets = tf.cast(arrays["offsets"], tf.int64)
    store = tf.RaggedTensor.from_row_splits(arrays["tokens"], offsets, validate=False)
    columns = {k: a for k, a in arrays.items() if k not in ("tokens", "offsets")}
    transforms = job.scenario.transforms(job.variant)
    pad = next(t for t in transforms if t.name == "pad_to_bucket").kwargs
    later = tuple(t for t in transforms if t.name != "pad_to_bucket")

    def gather(counter, ids):
        rows = tf.gather(store, ids)
        lengths = tf.cast(rows.row_lengths(), tf.int32)
        longest = tf.maximum(tf.reduce_max(lengths), 1)
        width = tf.minimum((longest + pad["bucket_size"] - 1) // pad["bucket_size"] * pad["bucket_size"], pad["max_len"])
        tokens = rows[:, : pad["max_len"]].to_tensor(
            default_value=pad["pad_value"], shape=tf.stack([tf.size(ids, out_type=tf.int64), tf.cast(width, tf.int64)]))
        batch = {k: tf.gather(v, ids) for k, v in columns.items()}
        batch.update({"tokens": tokens, pad["length_field"]: lengths})
        return apply(tf, later, batch, tf.stack([tf.constant(job.seed, tf.int64), counter]))

    return id_batches(tf, job, order, num_records=int(offsets.shape[0]) - 1).map(
        gather, num_parallel_calls=tf.data.AUTOTUNE)


def _cached(tf, job: Job, arrays: dict, scratch):
    """IO-4: the deterministic transforms on the records in stored order (vectorized over
    chunks), ``cache``d in memory or in a file, then ``shuffle``d over the whole set and
    batched each epoch: the guide's "cache after the expensive map"."""
    data = arrays
    n, size = job.variant.num_records, job.variant.batch_size
    transform = _transform(tf, job)
    records = tf.data.Dataset.range(n).batch(CHUNK).enumerate().map(
        lambda c, ids: transform({k: tf.gather(v, ids) for k, v in data.items()}, c),
        num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    store = job.variant.param("cache")
    if store == "disk" and scratch is None:
        raise ValueError("IO-4's disk cache needs a scratch folder")
    records = records.cache(str(scratch / "records") if store == "disk" else "")
    if job.shuffle:
        records = records.shuffle(n, seed=job.seed, reshuffle_each_iteration=True)
    return records.batch(size, drop_remainder=True).repeat()

