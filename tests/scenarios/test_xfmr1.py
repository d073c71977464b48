import numpy as np
import pytest

from adapters import load_adapter
from scenarios import get_scenario
from scenarios.reference import image as ref
from tests.scenarios.adapters_under_test import Rewrite, WrongTransforms, first_problem, job_for, replace_param

SCENARIO = get_scenario("XFMR-1")
SMALL = SCENARIO.variant("small")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("xfmr1")


def test_sizes_and_seeded_generation():
    assert [SCENARIO.variant(v).param("image_size") for v in ("small", "medium", "large")] == [32, 128, 512]
    data = SCENARIO.generate(SMALL, 0)["image"]
    assert data.min() >= 64 and data.tobytes() == SCENARIO.generate(SMALL, 0)["image"].tobytes()


def test_reference_rotation_matches_the_engines_warp():
    import jax
    import jax.numpy as jnp

    from datarax.operators.image import functional as F

    images = SCENARIO.generate(SMALL, 0)["image"][:4]
    angles = np.array([0.0, 12.5, -30.0, 90.0], np.float32)
    want = ref.rotate(images, angles)
    warp = jax.jit(jax.vmap(lambda im, a: F.affine(im, F.affine_matrix(a, jnp.zeros(2), 1.0))))
    got = np.asarray(warp(jnp.asarray(images), jnp.asarray(angles)))
    np.testing.assert_allclose(got, want, atol=1e-3)
    np.testing.assert_array_equal(want[0], images[0].astype(np.float32))  # 0° is the identity


@pytest.mark.parametrize("adapter", ["datarax", "numpy"])
def test_adapters_are_conformant(root, adapter):
    assert first_problem(load_adapter(adapter), job_for("XFMR-1", "small", root)) is None


@pytest.mark.parametrize(
    "adapter, message",
    [
        (WrongTransforms(lambda ts: ts[1:]), "not rotated"),
        (WrongTransforms(replace_param("random_rotate", "degrees", 2.0)), "not rotated"),
        (WrongTransforms(replace_param("normalize", "scale", 1.0)), "leaves the normalized range"),
        (Rewrite(lambda b: {"image": b["image"][:-3]}), "shape"),
    ],
)
def test_wrong_adapters_are_caught(root, adapter, message):
    assert message in first_problem(adapter, job_for("XFMR-1", "small", root))
