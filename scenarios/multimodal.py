"""Multimodal scenarios (MM-*)."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch, stored_rows
from scenarios.reference import apply_transforms
from scenarios.reference.image import IMAGENET_MEAN, IMAGENET_STD

PAD = 0


class ImageCaption(Scenario):
    """MM-1: uint8 image + caption tokens → normalize image; caption → pad/truncate to L with
    ``PAD`` past its length → ``caption_mask`` (bool, True on real tokens).

    Captions are stored in a fixed buffer longer than L with stale tokens past each length
    (as a reused buffer holds), so a loader that ignores the length is caught. Row-exact.
    """

    id = "MM-1"
    name = "image + caption"
    category = "multimodal"
    capabilities = frozenset({"exact_reference", "variable_length"})
    variants = {
        "small": Variant("small", 4096, 128, (("image_size", 32), ("buffer", 96), ("caption_len", 64), ("vocab", 32000))),
        "medium": Variant("medium", 32768, 128, (("image_size", 128), ("buffer", 96), ("caption_len", 77), ("vocab", 49408))),
        "large": Variant("large", 65536, 256, (("image_size", 224), ("buffer", 128), ("caption_len", 77), ("vocab", 49408))),
    }

    def input_fields(self, variant):
        side = variant.param("image_size")
        return (
            FieldSpec("image", (side, side, 3), "uint8"),
            FieldSpec("caption", (variant.param("buffer"),), "int32"),
            FieldSpec("caption_length", (), "int32"),
            FieldSpec("index", (), "int32"),
        )

    def output_fields(self, variant):
        side, length = variant.param("image_size"), variant.param("caption_len")
        return (
            FieldSpec("image", (side, side, 3), "float32"),
            FieldSpec("caption", (length,), "int32"),
            FieldSpec("caption_length", (), "int32"),
            FieldSpec("caption_mask", (length,), "bool"),
            FieldSpec("index", (), "int32"),
        )

    def transforms(self, variant):
        length = variant.param("caption_len")
        return (
            Transform.of("normalize", field="image", scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD),
            Transform.of("pad_to_length", field="caption", length=length, pad_value=PAD, length_field="caption_length"),
            Transform.of("attention_mask", field="caption", mask_field="caption_mask", pad_value=PAD,
                         length_field="caption_length"),
        )

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 41])
        n, side, buffer = variant.num_records, variant.param("image_size"), variant.param("buffer")
        images = rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)
        # Lengths 4…buffer, most short (as captions are); some exceed L and get truncated.
        lengths = np.minimum(4 + rng.geometric(1 / 20, size=n), buffer).astype(np.int32)
        tokens = rng.integers(1, variant.param("vocab"), size=(n, buffer), dtype=np.int32)  # stale past length
        return {"image": images, "caption": tokens, "caption_length": lengths, "index": np.arange(n, dtype=np.int32)}

    def check_values(self, variant, batch):
        caption, mask = np.asarray(batch["caption"]), np.asarray(batch["caption_mask"])
        if (caption[~mask] != PAD).any():
            return f"field 'caption' has tokens other than {PAD} where 'caption_mask' is False"
        if (caption[mask] == PAD).any():
            return f"field 'caption_mask' marks {PAD} (padding) as a real token"
        return None

    def check_rows(self, variant, batch, inputs):
        rows, problem = stored_rows(batch, inputs)
        if problem:
            return problem
        stored = {k: np.asarray(inputs[k][rows]) for k in ("image", "caption", "caption_length")}
        want = apply_transforms(stored, self.transforms(variant), None)
        return (
            first_mismatch("image", batch["image"], want["image"], rtol=1e-5, atol=1e-5)
            or first_mismatch("caption", batch["caption"], want["caption"])
            or first_mismatch("caption_mask", batch["caption_mask"], want["caption_mask"])
            or first_mismatch("caption_length", batch["caption_length"], want["caption_length"])
        )
