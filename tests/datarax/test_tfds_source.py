"""TFDS into the source contract, on a tiny builder prepared locally (nothing downloaded)."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed")

from datarax import Pipeline  # noqa: E402
from datarax.sources import TFDSSource, TFDSSourceConfig  # noqa: E402

pytestmark = pytest.mark.slow  # importing TensorFlow takes seconds


class DataraxTinyDigits(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(4, 4, 1), dtype=np.uint8),
                "label": tfds.features.ClassLabel(num_classes=3),
                "meta": {"weight": tfds.features.Tensor(shape=(), dtype=np.float32)},
                "name": tfds.features.Text(),
            }),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(20), "test": self._generate_examples(5)}

    def _generate_examples(self, n):
        for i in range(n):
            record = {"image": np.full((4, 4, 1), i, np.uint8), "label": i % 3, "meta": {"weight": i / 2}}
            yield i, {**record, "name": f"digit {i}"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    DataraxTinyDigits(data_dir=str(path)).download_and_prepare()
    return str(path)


def test_prepared_builder_loads_by_name_column_wise(data_dir):
    source = TFDSSource(TFDSSourceConfig(
        name="datarax_tiny_digits", split="train", data_dir=data_dir, fields=("image", "label", "meta"), chunk_size=8))
    assert len(source) == 20
    assert set(source.arrays) == {"image", "label", "meta/weight"}
    order = source.arrays["image"][:, 0, 0, 0].astype(np.int64)  # each record's own index
    assert sorted(order) == list(range(20))
    np.testing.assert_array_equal(source.arrays["label"], order % 3)
    np.testing.assert_allclose(source.arrays["meta/weight"], order / 2)
    batches = list(Pipeline(source, batch_size=5, num_epochs=1))
    assert [b["image"].shape for b in batches] == [(5, 4, 4, 1)] * 4


def test_text_features_must_be_left_out(data_dir):
    with pytest.raises(TypeError, match="'name' is not a numeric array"):
        TFDSSource(TFDSSourceConfig(name="datarax_tiny_digits", split="test", data_dir=data_dir))


def test_a_local_tf_data_dataset_converts_too():
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices({"x": np.arange(12, dtype=np.float32).reshape(6, 2)})
    source = TFDSSource(dataset=dataset)
    np.testing.assert_array_equal(source.gather(np.array([5, 0]))["x"], [[10, 11], [0, 1]])


def test_missing_dataset_is_not_downloaded(tmp_path):
    with pytest.raises(Exception, match="(?i)not found|download|does not exist|prepare"):
        TFDSSource(TFDSSourceConfig(name="datarax_tiny_digits", data_dir=str(tmp_path)))
