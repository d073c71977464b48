"""Probabilistic and selector operators, composition by graph nodes; MixUp and CutMix."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax.operators import ElementOperator, ElementOperatorConfig
from datarax.operators.batch_mix import BatchMixConfig, BatchMixOperator
from datarax.dag.nodes import Merge, Parallel, Sequential
from datarax.operators.composite import ProbabilisticOperator, SelectorOperator

X = np.random.default_rng(0).uniform(size=(200, 4, 4, 3)).astype(np.float32)
IDS = jnp.arange(200, dtype=jnp.int32)


def _op(c):
    return ElementOperator(ElementOperatorConfig(), fn=lambda e, key=None: e.update_data({"image": e.data["image"] * c}))


_apply = nnx.jit(lambda op, batch, ids: op.apply_batch(batch, ids, jnp.int32(0)))  # cached per op structure


def _run(op, ids=IDS, x=X):
    return np.asarray(_apply(op, {"image": jnp.asarray(x[np.asarray(ids)])}, ids)["image"])


def test_probabilistic_applies_per_record_keyed_by_record_id():
    assert np.allclose(_run(ProbabilisticOperator(_op(2.0), 0.0, rngs=nnx.Rngs(0))), X)
    assert np.allclose(_run(ProbabilisticOperator(_op(2.0), 1.0, rngs=nnx.Rngs(0))), 2 * X)
    op = ProbabilisticOperator(_op(2.0), 0.5, rngs=nnx.Rngs(4))
    out = _run(op)
    applied = np.all(np.isclose(out, 2 * X), axis=(1, 2, 3))
    assert np.all(applied | np.all(np.isclose(out, X), axis=(1, 2, 3)))
    assert 70 < applied.sum() < 130
    subset = IDS[::-7]  # the same records in another batch, in another order
    np.testing.assert_allclose(_run(op, subset), out[np.asarray(subset)])
    with pytest.raises(ValueError, match="p must be a number in"):
        ProbabilisticOperator(_op(2.0), 1.5, rngs=nnx.Rngs(0))


def test_selector_picks_one_candidate_per_record_with_the_weights():
    out = _run(SelectorOperator([_op(2.0), _op(3.0)], [1.0, 0.0], rngs=nnx.Rngs(0)))
    np.testing.assert_allclose(out, 2 * X)
    out = _run(SelectorOperator([_op(2.0), _op(3.0), _op(5.0)], [1, 1, 2], rngs=nnx.Rngs(1)))
    which = [np.all(np.isclose(out, c * X), axis=(1, 2, 3)) for c in (2, 3, 5)]
    assert np.all(sum(w.astype(int) for w in which) == 1)
    assert 30 < which[0].sum() < 70 and 75 < which[2].sum() < 125
    with pytest.raises(ValueError, match="weights must be 2 non-negative"):
        SelectorOperator([_op(2.0), _op(3.0)], [1.0], rngs=nnx.Rngs(0))


def test_graph_nodes_compose_in_sequence_ensemble_weighted_and_union():
    np.testing.assert_allclose(_run(Sequential([_op(2.0), _op(3.0)])), 6 * X, rtol=1e-6)
    ensemble = Sequential([Parallel([_op(2.0), _op(4.0)]), Merge("mean")])
    np.testing.assert_allclose(_run(ensemble), 3 * X, rtol=1e-6)
    weighted = Merge("weighted", weights=[3.0, 1.0])
    np.testing.assert_allclose(_run(Sequential([Parallel([_op(2.0), _op(4.0)]), weighted])), (0.75 * 2 + 0.25 * 4) * X,
                               rtol=1e-6)
    assert isinstance(weighted.logits, nnx.Param)  # learnable mixing weights
    tag = ElementOperator(ElementOperatorConfig(), fn=lambda e, key=None: e.update_data({"sum": jnp.sum(e.data["image"])}))
    union = Sequential([Parallel([_op(1.0), tag]), Merge("union")])
    out = union.apply_batch({"image": jnp.asarray(X)}, IDS, jnp.int32(0))
    np.testing.assert_allclose(out["image"], X, rtol=1e-6)
    np.testing.assert_allclose(out["sum"], X.sum(axis=(1, 2, 3)), rtol=1e-5)
    with pytest.raises(ValueError, match="field 'image' .* differs between branches"):  # union never combines
        Sequential([Parallel([_op(2.0), tag]), Merge("union")]).apply_batch({"image": jnp.asarray(X)}, IDS, jnp.int32(0))
    with pytest.raises(ValueError, match="weights go with mode 'weighted'"):
        Merge("weighted")
    with pytest.raises(ValueError, match="2 weights for 3 branches"):
        _run(Sequential([Parallel([_op(1.0), _op(2.0), _op(3.0)]), Merge("weighted", weights=[1.0, 1.0])]))


@pytest.mark.parametrize("build", [
    lambda rngs: ProbabilisticOperator(_op(2.0), 0.5, rngs=rngs),
    lambda rngs: SelectorOperator([_op(2.0), _op(3.0)], rngs=rngs),
    lambda rngs: BatchMixOperator(BatchMixConfig(image_field="image", label_field="label", num_classes=10), rngs=rngs),
    lambda rngs: ElementOperator(ElementOperatorConfig(stochastic=True, stream_name="s"), fn=lambda e, k: e, rngs=rngs),
])
def test_one_rule_every_stochastic_operator_needs_explicit_rngs(build):
    build(nnx.Rngs(0))  # seeded where it is built: fine
    with pytest.raises((TypeError, ValueError), match="rngs"):
        build(None)


def test_a_deterministic_operator_refuses_rngs_it_would_ignore():
    with pytest.raises(ValueError, match="deterministic .* drop rngs="):
        ElementOperator(ElementOperatorConfig(), fn=lambda e, k: e, rngs=nnx.Rngs(0))


FIELDS = dict(image_field="image", label_field="label", num_classes=10)


def _mix(config, ids):
    ids = jnp.asarray(ids, jnp.int32)
    batch = {"image": jnp.asarray(X[np.asarray(ids)]), "label": ids % 10}
    out = _apply(BatchMixOperator(config, rngs=nnx.Rngs(7)), batch, ids)
    return jax.tree.map(np.asarray, out)


@pytest.mark.parametrize("per_element", [False, True])
def test_mixup_mixes_images_and_labels_with_the_same_lambda(per_element):
    ids = np.arange(8)
    out = _mix(BatchMixConfig(mode="mixup", alpha=1.0, per_element=per_element, **FIELDS), ids)
    lam = out["label"][np.arange(8), ids % 10]  # weight of the record's own label
    np.testing.assert_allclose(out["label"].sum(axis=1), 1.0, rtol=1e-6)
    want = lam[:, None, None, None] * X[ids] + (1 - lam[:, None, None, None]) * X[np.roll(ids, 1)]
    np.testing.assert_allclose(out["image"], want, rtol=1e-5, atol=1e-6)
    assert (np.ptp(lam) > 1e-3) == per_element  # one λ per batch, or one per record
    if not per_element:  # keyed by which records the batch holds, not their order
        again = _mix(BatchMixConfig(mode="mixup", alpha=1.0, **FIELDS), ids[::-1])
        np.testing.assert_allclose(again["label"][np.arange(8), ids[::-1] % 10], lam[::-1], rtol=1e-6)


def test_cutmix_label_weight_is_the_pasted_area():
    ids = np.arange(8)
    out = _mix(BatchMixConfig(mode="cutmix", alpha=1.0, per_element=True, **FIELDS), ids)
    own = np.all(np.isclose(out["image"], X[ids]), axis=-1).mean(axis=(1, 2))
    np.testing.assert_allclose(out["label"][np.arange(8), ids % 10], own, rtol=1e-5)
    with pytest.raises(ValueError, match="mode must be one of"):
        BatchMixConfig(mode="mosaic", **FIELDS)
