"""Sequence, tabular and map operators against NumPy computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax import Pipeline
from datarax.operators import ElementOperator, ElementOperatorConfig, MapOperator, MapOperatorConfig
from datarax.operators import sequence as S
from datarax.operators import tabular as T
from datarax.sources import MemorySource
from scenarios.reference import tabular as tab_ref
from scenarios.reference import text as text_ref


def _run(op, batch, epoch=0):
    size = len(next(iter(batch.values())))
    ids = jnp.arange(size, dtype=jnp.int32)
    out = jax.jit(lambda b: op.apply_batch(b, ids, jnp.int32(epoch)))(batch)
    return {k: np.asarray(v) for k, v in out.items()}


TOKENS = np.array([[5, 6, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6], [9, 0, 0, 0, 0, 0]], np.int32)
LENGTHS = np.array([3, 6, 1], np.int32)


def _np_pad(tokens, length, pad, lengths=None):
    out = np.full((len(tokens), length), pad, tokens.dtype)
    keep = min(length, tokens.shape[1])
    out[:, :keep] = tokens[:, :keep]
    if lengths is not None:
        out[np.arange(length)[None, :] >= lengths[:, None]] = pad
    return out


@pytest.mark.parametrize("length", [4, 6, 9])
def test_pad_to_length_truncates_or_pads(length):
    got = _run(S.PadToLength(S.PadToLengthConfig(field="tokens", length=length, pad_value=-1)), {"tokens": TOKENS})
    np.testing.assert_array_equal(got["tokens"], _np_pad(TOKENS, length, -1))
    stale = TOKENS.copy()
    stale[0, 3:] = 99  # garbage past the stored length is padded over when a length field exists
    config = S.PadToLengthConfig(field="tokens", length=length, pad_value=0, length_field="length")
    got = _run(S.PadToLength(config), {"tokens": stale, "length": LENGTHS})
    np.testing.assert_array_equal(got["tokens"], _np_pad(TOKENS, length, 0, LENGTHS))


def test_attention_masks_padding_and_causal():
    got = _run(S.AttentionMask(S.AttentionMaskConfig(field="tokens")), {"tokens": TOKENS})["attention_mask"]
    np.testing.assert_array_equal(got, TOKENS != 0)
    config = S.AttentionMaskConfig(field="tokens", length_field="length", causal=True, mask_field="mask")
    got = _run(S.AttentionMask(config), {"tokens": TOKENS, "length": LENGTHS})["mask"]
    keys_valid = np.arange(6)[None, :] < LENGTHS[:, None]
    want = np.tril(np.ones((6, 6), bool))[None] & keys_valid[:, None, :]
    np.testing.assert_array_equal(got, want)


def test_shift_tokens_matches_the_nlp_reference():
    got = _run(S.ShiftTokens(S.ShiftTokensConfig(field="tokens")), {"tokens": TOKENS})
    want = text_ref.shift_tokens(TOKENS)
    assert set(got) == {"inputs", "targets"}
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    kept = _run(S.ShiftTokens(S.ShiftTokensConfig(field="tokens", keep_source=True)), {"tokens": TOKENS})
    assert set(kept) == {"tokens", "inputs", "targets"}


def test_dynamic_pad_to_bucket_picks_the_smallest_bucket_per_batch_and_compiles_once_per_bucket():
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(1, 8, 8), rng.integers(9, 16, 8), rng.integers(1, 30, 8)]).astype(np.int32)
    tokens = np.where(np.arange(32)[None, :] < lengths[:, None], rng.integers(1, 100, (24, 32)), 0).astype(np.int32)
    traces = []

    def count(element, key):
        traces.append(element.data["tokens"].shape)
        return element

    bucket = S.DynamicPadToBucket(S.DynamicPadToBucketConfig(field="tokens", buckets=(8, 16, 24)))
    pipeline = Pipeline(MemorySource(data={"tokens": tokens}), [bucket, ElementOperator(ElementOperatorConfig(), fn=count)],
                        batch_size=8, num_epochs=2)
    batches = [np.asarray(b["tokens"]) for b in pipeline]
    assert [b.shape[1] for b in batches] == [8, 16, 24, 8, 16, 24]
    np.testing.assert_array_equal(batches[0], tokens[:8, :8])
    np.testing.assert_array_equal(batches[1], tokens[8:16, :16])
    np.testing.assert_array_equal(batches[2], tokens[16:24, :24])  # longer rows truncated to the largest
    assert sorted(traces) == [(8,), (16,), (24,)]  # one trace per bucket, reused afterwards
    with pytest.raises(ValueError, match="increasing positive ints"):
        S.DynamicPadToBucketConfig(field="tokens", buckets=(16, 8))


def test_host_stages_must_come_first():
    bucket = S.DynamicPadToBucket(S.DynamicPadToBucketConfig(field="tokens", buckets=(8,)))
    shift = S.ShiftTokens(S.ShiftTokensConfig(field="tokens"))
    with pytest.raises(ValueError, match="DynamicPadToBucket runs on the host before the compiled step, so it must "
                                         "come before ShiftTokens, which runs inside the compiled step"):
        Pipeline(MemorySource(data={"tokens": TOKENS}), [shift, bucket], batch_size=1)


def test_standardize_and_log1p_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 50, (6, 4)).astype(np.float32)
    mean, std = (1.0, 2.0, 3.0, 4.0), (0.5, 1.5, 2.5, 3.5)
    got = _run(T.Standardize(T.StandardizeConfig(field="features", mean=mean, std=std)), {"features": x})["features"]
    np.testing.assert_allclose(got, tab_ref.standardize(x, mean, std), rtol=1e-6)
    got = _run(T.Log1p(T.Log1pConfig(field="features")), {"features": x})["features"]
    np.testing.assert_allclose(got, np.log1p(x), rtol=1e-6)
    with pytest.raises(ValueError, match="std must be positive"):
        T.StandardizeConfig(field="features", mean=0.0, std=(1.0, 0.0))


def test_hash_to_vocabulary_agrees_with_numpy_and_spreads_ids():
    ids = np.arange(-5000, 5000, dtype=np.int32) * 7919
    got = _run(T.HashToVocabulary(T.HashToVocabularyConfig(field="category", vocab_size=100, salt=3)), {"category": ids})["category"]
    np.testing.assert_array_equal(got, T.hash_to_vocabulary(ids, 100, 3, xp=np))
    assert got.min() >= 0 and got.max() < 100
    counts = np.bincount(got, minlength=100)
    assert counts.min() > 50 and counts.max() < 150  # about 100 each
    other_salt = T.hash_to_vocabulary(ids, 100, 4, xp=np)
    assert (other_salt != got).mean() > 0.9


def test_map_operator_on_selected_fields_and_with_keys():
    batch = {"a": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.ones((3, 2), np.float32)}
    got = _run(MapOperator(MapOperatorConfig(fields=("a",)), fn=lambda x: x * 2 + 1), batch)
    np.testing.assert_array_equal(got["a"], batch["a"] * 2 + 1)
    np.testing.assert_array_equal(got["b"], batch["b"])
    noisy = MapOperator(
        MapOperatorConfig(stochastic=True, stream_name="noise"),
        fn=lambda x, key: x + jax.random.uniform(key, x.shape), rngs=nnx.Rngs(0),
    )
    got = _run(noisy, {"a": np.zeros((3, 2), np.float32), "b": np.zeros((3, 2), np.float32)})
    assert not np.array_equal(got["a"], got["b"])  # each field its own key
    assert not np.array_equal(got["a"][0], got["a"][1])  # each record its own key
    with pytest.raises(KeyError, match=r"no fields \['c'\]"):
        _run(MapOperator(MapOperatorConfig(fields=("c",)), fn=lambda x: x), batch)


def test_element_function_must_return_an_element():
    op = ElementOperator(ElementOperatorConfig(), fn=lambda element, key: element.data)
    with pytest.raises(TypeError, match="must return an Element"):
        _run(op, {"a": np.zeros(2)})
