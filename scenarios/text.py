"""Text scenarios (NLP-*)."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant


class PretrainingTokens(Scenario):
    """NLP-1: stored int32 windows of L+1 tokens → ``shift_tokens`` → inputs, targets [L].

    Tokens follow a skewed (power-law-like) frequency, as a real tokenizer's output does.
    """

    id = "NLP-1"
    name = "LLM pretraining tokens"
    category = "text"
    variants = {
        "small": Variant("small", 8192, 64, (("seq_len", 128), ("vocab", 32000))),
        "medium": Variant("medium", 65536, 32, (("seq_len", 1024), ("vocab", 32000))),
        "large": Variant("large", 262144, 64, (("seq_len", 2048), ("vocab", 128256))),
    }

    def input_fields(self, variant):
        return (FieldSpec("tokens", (variant.param("seq_len") + 1,), "int32"),)

    def output_fields(self, variant):
        length = variant.param("seq_len")
        return (FieldSpec("inputs", (length,), "int32"), FieldSpec("targets", (length,), "int32"))

    def transforms(self, variant):
        return (Transform.of("shift_tokens", field="tokens"),)

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 2])
        shape = (variant.num_records, variant.param("seq_len") + 1)
        uniform = rng.random(shape, dtype=np.float32)
        tokens = (uniform**3 * variant.param("vocab")).astype(np.int32)
        return {"tokens": np.minimum(tokens, variant.param("vocab") - 1)}

    def check_values(self, variant, batch):
        inputs, targets = np.asarray(batch["inputs"]), np.asarray(batch["targets"])
        vocab = variant.param("vocab")
        for name, array in (("inputs", inputs), ("targets", targets)):
            if array.min() < 0 or array.max() >= vocab:
                return f"field {name!r} has token ids outside [0, {vocab})"
        if not np.array_equal(targets[:, :-1], inputs[:, 1:]):
            return "targets are not inputs shifted by one token (targets[:, :-1] != inputs[:, 1:])"
        return None
