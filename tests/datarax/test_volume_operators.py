import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from datarax.operators.volume import RandomCrop3D, RandomCrop3DConfig, ZScore, ZScoreConfig


def test_random_crop_3d_cuts_a_window_of_the_volume_keyed_by_the_record():
    volume = jnp.arange(8 * 9 * 10, dtype=jnp.float32).reshape(8, 9, 10)
    op = RandomCrop3D(RandomCrop3DConfig(field="volume", size=(4, 5, 6)), rngs=nnx.Rngs(0))
    crops = [np.asarray(op.transform(volume, jax.random.key(k))) for k in range(20)]
    for crop in crops:
        z, rest = divmod(int(crop[0, 0, 0]), 90)
        y, x = divmod(rest, 10)
        np.testing.assert_array_equal(crop, np.asarray(volume)[z : z + 4, y : y + 5, x : x + 6])
    assert len({c[0, 0, 0] for c in crops}) > 5  # the window moves with the key
    np.testing.assert_array_equal(crops[3], np.asarray(op.transform(volume, jax.random.key(3))))


def test_zscore_standardizes_each_volume():
    volume = jax.random.normal(jax.random.key(0), (6, 6, 6)) * 30 + 100
    out = ZScore(ZScoreConfig(field="volume")).transform(volume, None)
    assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1) < 1e-4


@pytest.mark.parametrize("size", [(4, 4), (0, 4, 4), "big"])
def test_bad_crop_sizes_are_named(size):
    with pytest.raises(ValueError, match="size must be a"):
        RandomCrop3DConfig(field="volume", size=size)
