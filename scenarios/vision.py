"""Vision scenarios (CV-*)."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.reference.image import IMAGENET_MEAN, IMAGENET_STD


class ImageClassification(Scenario):
    """CV-1: uint8 HWC images + labels → RandomResizedCrop → HFlip → /255 → Normalize."""

    id = "CV-1"
    name = "image classification"
    category = "vision"
    capabilities = frozenset({"stochastic_per_element"})
    variants = {
        "small": Variant("small", 4096, 128, (("image_size", 32), ("crop_size", 32), ("classes", 10))),
        "medium": Variant("medium", 20000, 128, (("image_size", 128), ("crop_size", 112), ("classes", 100))),
        "large": Variant("large", 50000, 256, (("image_size", 256), ("crop_size", 224), ("classes", 1000))),
    }

    def input_fields(self, variant):
        size = variant.param("image_size")
        return (FieldSpec("image", (size, size, 3), "uint8"), FieldSpec("label", (), "int32"))

    def output_fields(self, variant):
        crop = variant.param("crop_size")
        return (FieldSpec("image", (crop, crop, 3), "float32"), FieldSpec("label", (), "int32"))

    def transforms(self, variant):
        crop = variant.param("crop_size")
        return (
            Transform.of("random_resized_crop", field="image", size=(crop, crop), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
            Transform.of("random_horizontal_flip", field="image", p=0.5),
            Transform.of("normalize", field="image", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        )

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 1])
        size = variant.param("image_size")
        n = variant.num_records
        # Smooth gradients plus noise: resampling errors show up, unlike pure noise.
        yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        base = rng.integers(0, 256, size=(n, 1, 1, 3))
        slope = rng.integers(-3, 4, size=(n, 1, 1, 2))
        ramp = slope[..., :1] * yy[None, :, :, None] + slope[..., 1:] * xx[None, :, :, None]
        noise = rng.integers(-8, 9, size=(n, size, size, 3))
        images = np.clip(base + ramp + noise, 0, 255).astype(np.uint8)
        labels = rng.integers(0, variant.param("classes"), size=n).astype(np.int32)
        return {"image": images, "label": labels}

    def check_values(self, variant, batch):
        image, label = np.asarray(batch["image"]), np.asarray(batch["label"])
        mean, std = np.asarray(IMAGENET_MEAN), np.asarray(IMAGENET_STD)
        low, high = (0 - mean) / std - 1e-3, (1 - mean) / std + 1e-3
        if not np.isfinite(image).all():
            return "field 'image' has non-finite values"
        if (image < low).any() or (image > high).any():
            return (
                "field 'image' leaves the normalized range "
                f"[{low.round(3).tolist()}, {high.round(3).tolist()}] per channel"
            )
        classes = variant.param("classes")
        if label.min() < 0 or label.max() >= classes:
            return f"field 'label' outside [0, {classes})"
        return None
