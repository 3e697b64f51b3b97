"""MNIST IDX reader and the held-out-digit protocol (real files); the dcgan28 networks."""

import gzip

import numpy as np
import pytest
import tensorflow as tf

from engan_tf import anomaly
from engan_tf import data as data_lib
from engan_tf import networks
from engan_tf.data import mnist


def test_load_mnist_arrays_reads_the_idx_files(data_dir):
  train_x, train_y, test_x, test_y = mnist.load_mnist_arrays(data_dir)
  assert train_x.shape == (60_000, 28, 28) and test_x.shape == (10_000, 28, 28)
  assert train_x.dtype == np.uint8 and train_y.dtype == np.uint8
  assert np.bincount(train_y).tolist()[1] == 6742 and np.bincount(test_y).tolist()[1] == 1135
  assert train_x.max() == 255


def test_held_out_digit_split_sizes_and_labels(data_dir):
  source = data_lib.load_dataset("mnist_anomaly", data_dir=data_dir, anomaly_digit=1)
  data = source.anomaly
  # 7,877 ones among 70,000; 62,123 normal images: 80% (49,698) train, 12,425 test.
  assert data.x_train.shape == (49_698, 28, 28, 1)
  assert data.x_test.shape == (12_425 + 7_877, 28, 28, 1)
  assert int(data.y_test.sum()) == 7_877
  digits = data.test_classes
  assert (digits[data.y_test == 1] == 1).all() and (digits[data.y_test == 0] != 1).all()
  assert np.bincount(digits, minlength=10)[1] == 7_877
  assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0
  assert source.kind == "image_anomaly" and source.default_networks == "dcgan28"
  # Training never sees the held-out digit: count training images per digit.
  labels = np.concatenate([mnist.load_mnist_arrays(data_dir)[i] for i in (1, 3)])
  train_rows, test_rows, _ = mnist.held_out_digit_split(labels, 1)
  assert not (labels[train_rows] == 1).any()
  assert len(np.intersect1d(train_rows, test_rows)) == 0


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
  good = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in good.shape)
  path = tmp_path / "x.gz"
  path.write_bytes(gzip.compress(header + good.tobytes()))
  np.testing.assert_array_equal(mnist.read_idx(str(path)), good)
  path.write_bytes(gzip.compress(header + good.tobytes()[:-1]))
  with pytest.raises(ValueError, match="truncated"):
    mnist.read_idx(str(path))
  path.write_bytes(b"not an idx file at all")
  with pytest.raises(ValueError, match="not an IDX"):
    mnist.read_idx(str(path))


def test_anomaly_digit_is_required():
  with pytest.raises(ValueError, match="anomaly_digit"):
    data_lib.load_dataset("mnist_anomaly")


@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan28_shapes_and_per_example_score(channels):
  e, g, t = networks.build_networks("dcgan28", (28, 28, channels), latent_dim=8, dim=4)
  z = tf.random.normal([5, 8])
  x = g(z, training=False)
  assert x.shape == (5, 28, 28, channels)
  assert float(tf.reduce_max(tf.abs(x))) <= 1.0
  assert e(x).shape == (5,) and t([x, z]).shape == (5,)
  # No batch norm in E: one example's score does not depend on the rest of the batch.
  scores = anomaly.score(e, x.numpy())["score_norm"]
  single = anomaly.score(e, x.numpy()[:1])["score_norm"]
  assert scores[0] == pytest.approx(single[0], rel=1e-4)
  assert not any("batch_normalization" in type(l).__name__.lower() for l in e.layers)
