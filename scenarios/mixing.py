"""Batch mixing (CV-3): MixUp and CutMix after a random resized crop, labels one-hot and mixed."""

from __future__ import annotations

import functools

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference.image import IMAGENET_MEAN, IMAGENET_STD, normalize
from scenarios.reference.mixing import cutmix_boxes, mix_labels

_ATOL = 2e-3  # float32 resampling of a flat image and the λ read back from it


def _variant(name, records, batch, size, crop, classes, mode, alpha):
    return Variant(name, records, batch, (("image_size", size), ("crop_size", crop), ("classes", classes),
                                          ("mode", mode), ("alpha", alpha)))


class BatchMixing(Scenario):
    """CV-3: uint8 images → RandomResizedCrop → /255, Normalize → MixUp(α) or CutMix(α).

    Row ``i`` is mixed with row ``i - 1`` of its batch (cyclically, as torchvision's MixUp and
    CutMix do), with its own ``λ ~ Beta(α, α)``; labels become one-hot and are mixed with the
    same ``λ`` (CutMix: ``λ`` is the area kept). Each stored image is one flat colour, so any
    crop keeps it and the mix is measurable: conformance reads each row's ``λ`` back from its
    pixels (the blend, or the share of the row's own colour) and checks the label against it.
    """

    id = "CV-3"
    name = "batch mixing"
    category = "vision"
    capabilities = frozenset({"stochastic_per_element", "batch_mixing"})
    variants = {
        "small": _variant("small", 4096, 128, 32, 32, 10, "mixup", 0.2),
        "small-cutmix": _variant("small-cutmix", 4096, 128, 32, 32, 10, "cutmix", 1.0),
        "medium": _variant("medium", 20000, 128, 128, 112, 100, "mixup", 0.2),
        "large": _variant("large", 50000, 256, 256, 224, 1000, "cutmix", 1.0),
    }

    def input_fields(self, variant):
        size = variant.param("image_size")
        return (FieldSpec("image", (size, size, 3), "uint8"), FieldSpec("label", (), "int32"),
                FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        crop = variant.param("crop_size")
        return (FieldSpec("image", (crop, crop, 3), "float32"),
                FieldSpec("label", (variant.param("classes"),), "float32"), FieldSpec("index", (), "int32"))

    def transforms(self, variant):
        crop = variant.param("crop_size")
        return (
            Transform.of("random_resized_crop", field="image", size=(crop, crop), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
            Transform.of("normalize", field="image", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),
            Transform.of(variant.param("mode"), field="image", label_field="label", alpha=variant.param("alpha"),
                         classes=variant.param("classes"), partner="previous"),
        )

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 31])
        n, size = variant.num_records, variant.param("image_size")
        colours = rng.integers(0, 256, size=(n, 1, 1, 3), dtype=np.uint8)
        return {
            "image": np.ascontiguousarray(np.broadcast_to(colours, (n, size, size, 3))),
            "label": rng.integers(0, variant.param("classes"), size=n, dtype=np.int32),
            "index": np.arange(n, dtype=np.int32),
        }

    def check_values(self, variant, batch):
        label = np.asarray(batch["label"], np.float64)
        if not (np.isfinite(label).all() and np.isfinite(np.asarray(batch["image"])).all()):
            return "fields 'image'/'label' have non-finite values"
        if label.min() < -1e-6:
            return "field 'label' has negative class weights"
        sums = label.sum(axis=1)
        if np.abs(sums - 1).max() > 1e-4:
            return f"field 'label': rows sum to {sums.min():.4f}..{sums.max():.4f}, expected 1 (one-hot, mixed)"
        return None

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        own = normalize(np.asarray(inputs["image"][rows, 0, 0]), IMAGENET_MEAN, IMAGENET_STD)  # [B, 3]
        partner = np.roll(own, 1, axis=0)
        image = np.asarray(batch["image"], np.float32).reshape(len(rows), -1, 3)
        channel = np.argmax(np.abs(own - partner), axis=1)
        pick = np.arange(len(rows))
        gap = (own - partner)[pick, channel]
        judged = np.abs(gap) > 0.3  # colours far enough apart to read λ from
        if variant.param("mode") == "mixup":
            lam = ((image[pick, :, channel] - partner[pick, channel][:, None]) / np.where(judged, gap, 1)[:, None]).mean(1)
            want = lam[:, None, None] * own[:, None] + (1 - lam[:, None, None]) * partner[:, None]
        else:
            near_own = np.abs(image - own[:, None]).max(axis=2) < np.abs(image - partner[:, None]).max(axis=2)
            lam = near_own.mean(axis=1)
            want = np.where(near_own[..., None], own[:, None], partner[:, None])
        problem = first_mismatch("image", image[judged], want[judged], atol=_ATOL)
        if problem:
            return f"{problem} (each pixel should be the mix of the row's and the previous row's colour)"
        if not judged.any():
            return None
        labels = np.asarray(inputs["label"][rows])
        expected = mix_labels(labels, np.clip(lam, 0, 1), variant.param("classes"))
        problem = first_mismatch("label", np.asarray(batch["label"])[judged], expected[judged], atol=_ATOL)
        if problem:
            return f"{problem} (labels must be mixed with the λ the images show)"
        mean, std = _lambda_moments(variant.param("mode"), variant.param("alpha"), variant.param("crop_size"))
        spread = 6 * std / np.sqrt(judged.sum())  # six standard errors of the mean λ
        if abs(lam[judged].mean() - mean) > spread:
            return (f"field 'image': mean λ {lam[judged].mean():.2f} over {judged.sum()} rows, expected "
                    f"{mean:.2f} ± {spread:.2f} (one λ per row, drawn as the transform says?)")
        if judged.sum() >= 32 and not 0.5 * std < lam[judged].std() < 1.5 * std:
            return (f"field 'image': λ spreads by {lam[judged].std():.2f} over {judged.sum()} rows, expected about "
                    f"{std:.2f} (α = {variant.param('alpha')}, one λ per row?)")
        return None


@functools.lru_cache(maxsize=None)
def _lambda_moments(mode: str, alpha: float, size: int) -> tuple[float, float]:
    """Mean and standard deviation of a row's λ: Beta(α, α)'s for MixUp; for CutMix the kept
    area after the border clips the box, estimated from 20 000 seeded draws of the reference."""
    if mode == "mixup":
        return 0.5, float(np.sqrt(1 / (4 * (2 * alpha + 1))))
    kept = cutmix_boxes(np.random.default_rng(0), 20_000, size, size, alpha)[2]
    return float(kept.mean()), float(kept.std())
