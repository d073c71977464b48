"""NumPy references of every transform's semantics, vectorized over a batch.

``REFERENCE[name](array, rng, **params)`` applies transform ``name`` to one field of a whole
batch; ``rng`` is a ``numpy.random.Generator`` (unused by deterministic transforms, which may
get None). It returns either an array, which replaces the field, or a dict of new fields, which
replace the input field (``shift_tokens``: ``tokens`` → ``inputs``, ``targets``) unless the
dict keeps it under ``"__keep__"``; a ``length_field`` parameter receives that field's array;
``apply_transforms`` implements that contract. ``STOCHASTIC`` names the transforms that draw
random numbers.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from scenarios.reference import audio, elementwise, filters, image, mixing, tabular, text, volume


def _random_resized_crop(images, rng, *, size, scale, ratio):
    boxes = image.sample_resized_crop_boxes(rng, len(images), *images.shape[1:3], scale, ratio)
    return image.resize_regions(images, boxes, size)


def _random_horizontal_flip(images, rng, *, p):
    flips = rng.random(len(images)) < p
    return np.where(flips.reshape(-1, *[1] * (images.ndim - 1)), images[:, :, ::-1], images)


def _random_rotate(images, rng, *, degrees):
    return image.rotate(images, image.sample_affine(rng, len(images), degrees))


def _multi_scale_resize(images, rng, *, sizes, out_fields):
    return {name: image.resize(images, size) for name, size in zip(out_fields, sizes)}


def _random_window(clips, rng, *, length, offset_field):
    offsets = audio.window_offsets(rng, len(clips), clips.shape[1], length)
    return {"__keep__": audio.crop_windows(clips, offsets, length), offset_field: offsets}


def _log_mel(waves, rng, *, out_field, **params):
    return {out_field: audio.log_mel(waves, **params)}


def _random_crop(images, rng, *, size):
    return image.random_crop(images, rng, tuple(size))


def _normalize(images, rng, *, scale, mean, std):
    return image.normalize(images, mean, std, scale)


def _shift_tokens(windows, rng):
    return text.shift_tokens(windows)


def _standardize(features, rng, *, mean, std):
    return tabular.standardize(features, mean, std)


def _pad_to_length(tokens, rng, *, length, pad_value, length_field=None):
    return text.pad_to_length(tokens, length, pad_value, length_field)


def _pad_to_bucket(tokens, rng, *, bucket_size, max_len, pad_value, length_field):
    return text.pad_to_bucket(tokens, bucket_size, max_len, pad_value, length_field)


def _attention_mask(tokens, rng, *, mask_field, pad_value, length_field=None):
    return {"__keep__": tokens, mask_field: text.attention_mask(tokens, pad_value, length_field)}


def _random_crop_3d(volumes, rng, *, size):
    return volume.crop(volumes, volume.crop_offsets(rng, len(volumes), volumes.shape[1:4], size), size)


def _zscore(volumes, rng, *, eps):
    return volume.zscore(volumes, eps)


def _log1p(x, rng):
    return tabular.log1p(x)


def _hash_to_vocabulary(x, rng, *, vocab_size, salt):
    return tabular.hash_to_vocabulary(x, vocab_size, salt)


def _multiply(x, rng, *, factor):
    return elementwise.multiply(x, factor)


def _add(x, rng, *, value):
    return elementwise.add(x, value)


def _clip(x, rng, *, low, high):
    return elementwise.clip(x, low, high)


def _random_apply(x, rng, *, p, op, op_params):
    """``op`` on each record with probability ``p`` (one uniform draw per record)."""
    applied = rng.random(len(x)) < p
    done = REFERENCE[op](x, None, **dict(op_params))
    return np.where(applied.reshape(-1, *[1] * (x.ndim - 1)), done, x)


def _batch_mix(mix):
    def apply(images, rng, *, label_field, alpha, classes, partner):
        assert partner == "previous", partner
        mixed, labels = mix(images, label_field, rng, alpha=alpha, classes=classes)
        return {"__keep__": mixed, "label_field": labels}

    return apply


def _box_blur(images, rng, *, iterations):
    return filters.box_blur(images, iterations)


REFERENCE: dict[str, Callable[..., np.ndarray | dict[str, np.ndarray]]] = {
    "random_apply": _random_apply,
    "mixup": _batch_mix(mixing.mixup),
    "cutmix": _batch_mix(mixing.cutmix),
    "box_blur": _box_blur,
    "random_resized_crop": _random_resized_crop,
    "random_horizontal_flip": _random_horizontal_flip,
    "normalize": _normalize,
    "shift_tokens": _shift_tokens,
    "standardize": _standardize,
    "random_crop_3d": _random_crop_3d,
    "random_rotate": _random_rotate,
    "random_crop": _random_crop,
    "random_window": _random_window,
    "log_mel": _log_mel,
    "multi_scale_resize": _multi_scale_resize,
    "zscore": _zscore,
    "log1p": _log1p,
    "pad_to_length": _pad_to_length,
    "pad_to_bucket": _pad_to_bucket,
    "attention_mask": _attention_mask,
    "hash_to_vocabulary": _hash_to_vocabulary,
    "multiply": _multiply,
    "add": _add,
    "clip": _clip,
}

STOCHASTIC: frozenset[str] = frozenset(
    {"random_resized_crop", "random_horizontal_flip", "random_crop_3d", "random_rotate", "random_crop",
     "random_apply", "mixup", "cutmix", "random_window"}
)


_FIELD_INPUTS = ("length_field", "label_field")


def apply_transforms(
    batch: Mapping[str, np.ndarray], transforms: Sequence, rng: np.random.Generator | None
) -> dict[str, np.ndarray]:
    """Applies ``transforms`` (``scenarios.Transform``s) in order to a batch; returns a new dict.

    A transform returning a dict replaces its input field with the dict's fields. Parameters
    named in ``_FIELD_INPUTS`` receive that field's array, and a result under such a key goes to
    that field (e.g. ``label_field``: MixUp reads and rewrites the labels).
    """
    out = dict(batch)
    for t in transforms:
        kwargs = {k: (out[v] if k in _FIELD_INPUTS else v) for k, v in t.kwargs.items()}
        result = REFERENCE[t.name](out[t.field], rng, **kwargs)
        if isinstance(result, dict):
            result = {(t.kwargs[k] if k in _FIELD_INPUTS else k): v for k, v in result.items()}
            out[t.field] = result.pop("__keep__", None)
            if out[t.field] is None:
                del out[t.field]
            out.update(result)
        else:
            out[t.field] = result
    return out
