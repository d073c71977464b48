"""Text scenarios (NLP-*)."""

from __future__ import annotations

import numpy as np

from scenarios.base import FieldSpec, Scenario, Transform, Variant
from scenarios.checks import first_mismatch
from scenarios.reference import apply_transforms
from scenarios.reference.text import bucketed_width, ragged_rows

PAD = 0


def _window_keys(windows: np.ndarray, tokens: int = 8) -> np.ndarray:
    """A uint64 hash of each row's first ``tokens`` tokens (a lookup key; rows are then compared)."""
    keys = np.zeros(len(windows), np.uint64)
    with np.errstate(over="ignore"):
        for column in np.asarray(windows)[:, :tokens].T.astype(np.uint64):
            keys = keys * np.uint64(0x100000001B3) + column
    return keys


class _StoredWindows:
    """The stored windows sorted by a hash of their first tokens, built once, so a batch's rows
    are found by content (NLP-1's records carry no ``index``)."""

    def __init__(self, stored: np.ndarray):
        self.keys = _window_keys(stored)
        self.order = np.argsort(self.keys, kind="stable")
        self.sorted = self.keys[self.order]

    def find(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, missing)``: the stored window each row of ``inputs`` starts like, and the
        rows that start like none."""
        keys = _window_keys(inputs)
        ids = self.order[np.minimum(np.searchsorted(self.sorted, keys), len(self.order) - 1)]
        return ids, np.flatnonzero(self.keys[ids] != keys)


class PretrainingTokens(Scenario):
    """NLP-1: stored int32 windows of L+1 tokens → ``shift_tokens`` → inputs, targets [L].

    Tokens follow a skewed (power-law-like) frequency, as a real tokenizer's output does.
    """

    id = "NLP-1"
    name = "LLM pretraining tokens"
    category = "text"
    rows_by_content = True
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

    def check_rows(self, variant, batch, inputs):
        """Each row is a stored window, shifted, and no window repeats: rows are found by a
        hash of their first tokens, then compared whole."""
        stored = np.asarray(inputs["tokens"])
        got = np.asarray(batch["inputs"])
        ids, missing = _StoredWindows(stored).find(got)
        if len(missing):
            return f"row {int(missing[0])} of field 'inputs' starts like no stored window ({len(missing)} rows)"
        if len(np.unique(ids)) != len(ids):
            return "a stored window repeats within one batch"
        return (first_mismatch("inputs", got, stored[ids, :-1])
                or first_mismatch("targets", batch["targets"], stored[ids, 1:]))

    def record_ids(self, variant, inputs):
        """The stored window each row starts like: NLP-1's records carry no ``index``."""
        windows = _StoredWindows(np.asarray(inputs["tokens"]))
        return lambda batch: windows.find(np.asarray(batch["inputs"]))[0]


class VariableLengthText(Scenario):
    """NLP-2: ragged token storage (flat int32 ``tokens`` + int64 ``offsets``: record ``i`` is
    ``tokens[offsets[i]:offsets[i+1]]``) → reading a batch gives each record's tokens and
    ``length`` → ``pad_to_bucket`` (pad with ``PAD`` to the batch's longest length rounded up to a
    multiple of ``bucket_size``, at most ``max_len``) → ``attention_mask`` (True on real tokens).

    Lengths are log-normal (median ``max_len / 8``, long tail, capped at ``max_len``), so batch
    widths vary: the token and mask widths are ``None`` in the output spec and every batch must
    have exactly its own bucketed width. Rows are compared exactly with the stored records.
    """

    id = "NLP-2"
    name = "variable-length text"
    category = "text"
    capabilities = frozenset({"exact_reference", "variable_length"})
    variants = {
        "small": Variant("small", 8192, 64, (("bucket_size", 32), ("max_len", 512), ("vocab", 32000))),
        "medium": Variant("medium", 65536, 64, (("bucket_size", 64), ("max_len", 2048), ("vocab", 32000))),
        "large": Variant("large", 262144, 64, (("bucket_size", 128), ("max_len", 8192), ("vocab", 128256))),
    }

    def input_fields(self, variant):
        return (FieldSpec("tokens", (None,), "int32"), FieldSpec("offsets", (), "int64"),
                FieldSpec("index", (), "int32"))

    def output_fields(self, variant):
        return (FieldSpec("tokens", (None,), "int32"), FieldSpec("length", (), "int32"),
                FieldSpec("attention_mask", (None,), "bool"), FieldSpec("index", (), "int32"))

    def transforms(self, variant):
        return (
            Transform.of("pad_to_bucket", field="tokens", bucket_size=variant.param("bucket_size"),
                         max_len=variant.param("max_len"), pad_value=PAD, length_field="length"),
            Transform.of("attention_mask", field="tokens", mask_field="attention_mask", pad_value=PAD,
                         length_field="length"),
        )

    def generate(self, variant, seed):
        rng = np.random.default_rng([seed, 12])
        n, max_len = variant.num_records, variant.param("max_len")
        lengths = np.clip(np.rint(rng.lognormal(np.log(max_len / 8), 0.7, size=n)), 1, max_len).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        tokens = rng.integers(PAD + 1, variant.param("vocab"), size=int(offsets[-1]), dtype=np.int32)
        return {"tokens": tokens, "offsets": offsets, "index": np.arange(n, dtype=np.int32)}

    def check_values(self, variant, batch):
        tokens, mask = np.asarray(batch["tokens"]), np.asarray(batch["attention_mask"])
        length = np.asarray(batch["length"])
        if tokens.shape != mask.shape:
            return f"field 'attention_mask' has shape {mask.shape}, 'tokens' {tokens.shape}: widths differ"
        if length.min() < 1 or length.max() > variant.param("max_len"):
            return f"field 'length' outside [1, {variant.param('max_len')}]"
        width = bucketed_width(length, variant.param("bucket_size"), variant.param("max_len"))
        if tokens.shape[1] != width:
            return (f"field 'tokens' has width {tokens.shape[1]}, expected {width}: the longest length "
                    f"{length.max()} rounded up to a multiple of {variant.param('bucket_size')}")
        problem = first_mismatch("attention_mask", mask, np.arange(width) < length[:, None])
        if problem:
            return problem
        if (tokens[~mask] != PAD).any():
            return f"field 'tokens' has values other than {PAD} past a record's length"
        return None

    def check_rows(self, variant, batch, inputs):
        index = np.asarray(batch["index"]).astype(np.int64)
        count = len(inputs["offsets"]) - 1
        if index.min() < 0 or index.max() >= count or len(np.unique(index)) != len(index):
            return f"field 'index' has record ids outside [0, {count}) or repeats one"
        if not np.array_equal(np.asarray(inputs["index"])[index], index):
            return "field 'index' does not match the stored ids (rows were altered)"
        tokens, lengths = ragged_rows(inputs["tokens"], inputs["offsets"], index, PAD)
        want = apply_transforms({"tokens": tokens, "length": lengths}, self.transforms(variant), None)
        return first_mismatch("length", batch["length"], want["length"]) or first_mismatch(
            "tokens", batch["tokens"], want["tokens"])
