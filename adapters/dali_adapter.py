"""NVIDIA DALI: ``external_source`` of shuffled batches → DALI CPU operators, ``job.cpu_budget`` threads.

Every transform is a DALI operator working per sample: ``random_resized_crop`` (bilinear, no
antialiasing, float output), flip + normalize fused in ``crop_mirror_normalize`` (its mirror
flag a per-sample ``coin_flip``), ``normalize`` with per-column mean/stddev, and slicing for
token shifts. ``device_id=None`` runs DALI without a GPU (the only CPU-only mode DALI 2.x
accepts); on a GPU machine the same graph would move to ``device="gpu"``. The pipeline is
built per iterator, so a fresh iterator restarts the same seeded stream. The external source
reads IO-1's memory-mapped, in-RAM, ArrayRecord or Parquet records (one batched read per batch).

Delivery: on a GPU the outputs are copied to the device by DALI itself (``.gpu()``) and handed
out by DALI's JAX plugin iterator (``nvidia.dali.plugin.jax.DALIGenericIterator``), DALI's
documented JAX path; on the CPU, DALI's host outputs go through the shared overlapped
``jax.device_put`` (``adapters._delivery``).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from adapters import _formats
from adapters._delivery import deliver
from adapters._records import HANDLED_CAPABILITIES, NpyRecords, id_batches
from adapters.base import Job, LibraryAdapter

SUPPORTED = frozenset(
    {
        "random_resized_crop", "random_horizontal_flip", "normalize", "shift_tokens", "standardize", "multiply", "add",
        "clip", "random_rotate", "random_crop", "random_crop_3d", "zscore", "multi_scale_resize", "random_window",
        "log_mel", "random_apply", "log1p", "hash_to_vocabulary",
    }
)
# DALI's layout of each input field, by rank (volumes are depth-height-width, images HWC).
_LAYOUTS = {"volume": "DHW"}


def _anchor(fn):
    """A uniform crop anchor in [0, 1] (DALI's ``crop_pos_*``), drawn per sample by DALI's seeded RNG."""
    return fn.random.uniform(range=[0.0, 1.0])


def _batches(records: NpyRecords, fields: list[str], job: Job):
    """Endless ``(field batches...)`` tuples, epoch after epoch, in the job's seeded order."""
    for _, ids in id_batches(job):
        batch = records.gather(ids)
        yield tuple(batch[f] for f in fields)


def _arithmetic(types, op: str, params: dict[str, float], x):
    """``multiply`` by ``factor`` or ``add`` ``value`` with DALI's float32 arithmetic operators."""
    if op == "multiply":
        return x * types.Constant(np.float32(params["factor"]))
    return x + types.Constant(np.float32(params["value"]))


def _hash_to_vocabulary(fn, types, x, vocab_size: int, salt: int):
    """murmur3's fmix32 of ``uint32(x) ^ salt``, modulo ``vocab_size``, in DALI's wrapping uint32
    arithmetic (a right shift by k is a floor division by 2**k on unsigned values)."""

    def u32(value):
        return types.Constant(np.uint32(value))

    x = fn.cast(x, dtype=types.UINT32) ^ u32(salt)
    x = (x ^ (x // u32(1 << 16))) * u32(0x85EBCA6B)
    x = (x ^ (x // u32(1 << 13))) * u32(0xC2B2AE35)
    x = x ^ (x // u32(1 << 16))
    return fn.cast(x - (x // u32(vocab_size)) * u32(vocab_size), dtype=types.INT32)


def _graph(fn, types, job: Job, nodes: dict[str, Any]) -> dict[str, Any]:
    """Applies the scenario's transforms to the named DataNodes with DALI operators."""
    from nvidia.dali import math as dmath

    mirror = None  # a pending flip, fused into the following normalize when there is one
    for t in job.scenario.transforms(job.variant):
        kw, x = t.kwargs, nodes.pop(t.field)
        if t.name == "random_resized_crop":
            x = fn.random_resized_crop(
                x, size=list(kw["size"]), random_area=list(kw["scale"]), random_aspect_ratio=list(kw["ratio"]),
                num_attempts=10, interp_type=types.INTERP_LINEAR, antialias=False, dtype=types.FLOAT,
            )
        elif t.name == "multi_scale_resize":  # one bilinear resize per scale, half-pixel centres, float out
            for field, size in zip(kw["out_fields"], kw["sizes"]):
                nodes[field] = fn.resize(x, size=list(size), interp_type=types.INTERP_LINEAR, antialias=False,
                                         dtype=types.FLOAT)
            continue
        elif t.name == "random_window":
            span = int(job.scenario.input_fields(job.variant)[0].shape[0]) - kw["length"]
            start = fn.cast(dmath.floor(fn.random.uniform(range=[0.0, span + 1.0])), dtype=types.INT32)
            nodes[kw["offset_field"]] = start
            x = fn.slice(x, start=fn.reshape(start, shape=[1]), shape=[kw["length"]], axes=[0])
        elif t.name == "log_mel":  # |STFT|^2 (unpadded frames, periodic Hann) → HTK mel bands → log
            n_fft, rate = kw["n_fft"], kw["sample_rate"]
            hann = (0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))).astype(np.float32)
            spec = fn.spectrogram(x, nfft=n_fft, window_length=n_fft, window_step=kw["hop_length"], power=2,
                                  center_windows=False, window_fn=hann.tolist(), layout="tf")
            mel = fn.mel_filter_bank(spec, sample_rate=rate, nfilter=kw["n_mels"], freq_low=kw["f_min"],
                                     freq_high=kw["f_max"] or rate / 2, mel_formula="htk", normalize=False)
            nodes[kw["out_field"]] = dmath.log(mel + types.Constant(np.float32(kw["eps"])))
            continue
        elif t.name == "random_apply":  # a per-sample coin decides; the blend is exact for a coin of 0 or 1
            coin = fn.cast(fn.random.coin_flip(probability=kw["p"]), dtype=types.FLOAT)
            x = fn.cast(x, dtype=types.FLOAT)
            x = coin * _arithmetic(types, kw["op"], dict(kw["op_params"]), x) + (types.Constant(np.float32(1)) - coin) * x
        elif t.name == "log1p":
            x = dmath.log(fn.cast(x, dtype=types.FLOAT) + types.Constant(np.float32(1)))
        elif t.name == "hash_to_vocabulary":
            x = _hash_to_vocabulary(fn, types, x, kw["vocab_size"], kw["salt"])
        elif t.name == "random_rotate":
            angle = fn.random.uniform(range=[-kw["degrees"], kw["degrees"]])
            x = fn.rotate(x, angle=angle, keep_size=True, fill_value=0, interp_type=types.INTERP_LINEAR)
        elif t.name == "random_crop":
            x = fn.crop(x, crop=list(kw["size"]), crop_pos_x=_anchor(fn), crop_pos_y=_anchor(fn))
        elif t.name == "random_crop_3d":
            (d, h, w), pos = kw["size"], {f"crop_pos_{a}": _anchor(fn) for a in "xyz"}
            x = fn.expand_dims(x, axes=[3], new_axis_names="C")  # crop reads DHWC volumes
            x = fn.squeeze(fn.crop(x, crop_d=d, crop_h=h, crop_w=w, **pos), axes=[3])
        elif t.name == "zscore":  # per-sample mean and variance over every axis, eps added to the variance
            x = fn.normalize(x, epsilon=kw["eps"], dtype=types.FLOAT)
        elif t.name == "random_horizontal_flip":
            mirror = fn.random.coin_flip(probability=kw["p"])
            nodes[t.field] = x
            continue
        elif t.name == "normalize":
            scale = kw["scale"]
            x = fn.crop_mirror_normalize(
                x, mirror=0 if mirror is None else mirror, dtype=types.FLOAT, output_layout="HWC",
                mean=[m / scale for m in kw["mean"]], std=[s / scale for s in kw["std"]],
            )
            mirror = None
        elif t.name == "standardize":
            mean, std = (np.asarray(kw[k], np.float32) for k in ("mean", "std"))
            x = fn.normalize(x, mean=mean, stddev=std, dtype=types.FLOAT)
        elif t.name == "shift_tokens":
            nodes.update(inputs=x[:-1], targets=x[1:])
            continue
        elif t.name in ("multiply", "add"):  # DALI's arithmetic operators, in float32
            x = _arithmetic(types, t.name, kw, fn.cast(x, dtype=types.FLOAT))
        elif t.name == "clip":
            x = dmath.clamp(fn.cast(x, dtype=types.FLOAT), np.float32(kw["low"]), np.float32(kw["high"]))
        nodes[t.field] = x
    if mirror is not None:
        field = next(t.field for t in job.scenario.transforms(job.variant) if t.name == "random_horizontal_flip")
        nodes[field] = fn.flip(nodes[field], horizontal=mirror)
    return nodes


class DaliAdapter(LibraryAdapter):
    name = "dali"
    library, distribution = "nvidia.dali", "nvidia-dali-cuda120"
    ops, ops_kind = SUPPORTED, "DALI operator"
    label = "DALI pipeline: batched external_source in the seeded epoch order, DALI per-sample operators on job.cpu_budget threads"
    backends = frozenset({"npy", "memory", "array_record", "parquet"})
    capabilities = HANDLED_CAPABILITIES | {"device_sharding"}

    def prepare(self, job: Job) -> None:
        _formats.prepare_backend(job)

    def open(self, job: Job) -> Iterator[dict[str, Any]]:
        from nvidia.dali import fn, pipeline, types

        variant = job.variant
        fields = [f.name for f in job.scenario.input_fields(variant)]
        layouts = [_LAYOUTS.get(f.name, "HWC") if len(f.shape) == 3 else "" for f in job.scenario.input_fields(variant)]
        on_gpu = job.on_device and job.platform == "gpu"
        device_id = next(iter(job.sharding().device_set)).local_hardware_id if on_gpu else None
        pipe = pipeline.Pipeline(
            batch_size=variant.batch_size, num_threads=job.cpu_budget, device_id=device_id, seed=job.seed,
            prefetch_queue_depth=2,
        )
        with pipe:
            inputs = fn.external_source(
                source=_batches(_formats.records(job), fields, job), num_outputs=len(fields), batch=True, layout=layouts
            )
            nodes = _graph(fn, types, job, dict(zip(fields, inputs)))
            outputs = {f.name: nodes[f.name] for f in job.scenario.output_fields(variant)}  # the graph ends there
            names = list(outputs)
            pipe.set_outputs(*(node.gpu() if on_gpu else node for node in outputs.values()))
        pipe.build()
        if on_gpu:
            from nvidia.dali.plugin.jax import DALIGenericIterator

            return iter(DALIGenericIterator(pipe, names, size=-1))  # the external source never ends
        return deliver(self._run(pipe, names), job)

    @staticmethod
    def _run(pipe, names: list[str]) -> Iterator[dict[str, Any]]:
        try:
            while True:
                yield {name: out.as_array() for name, out in zip(names, pipe.run())}
        finally:
            del pipe
