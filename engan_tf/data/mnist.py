"""MNIST: the IDX-file reader and the held-out-digit anomaly protocol.

`load_mnist_arrays(data_dir)` returns the plain uint8 arrays (train 60,000 / test 10,000)
from the four IDX files (`train-images-idx3-ubyte.gz`, ...) in data_dir or data_dir/mnist,
or from TFDS `mnist` when there are none (on a user's machine; it downloads).

`--dataset=mnist_anomaly --anomaly_digit=d` (Zenati et al. 2018, the paper's Table 4):
all 70,000 images; the normal class is every digit but d, shuffled with a fixed seed
(split seed 42, independent of the training seed); 80% of it trains; the test set is the
other 20% of normal images plus every image of digit d (label 1 = anomaly). Pixels are
scaled to [-1, 1] (x / 127.5 - 1), shape (28, 28, 1).

Example (reads, or downloads, the IDX files: not run by the doctests; 7,877 ones, so
20% of the 62,123 others, 12,425, are the test set's normal images):
  >>> from engan_tf.data import load_dataset
  >>> source = load_dataset("mnist_anomaly", data_dir="/data", anomaly_digit=1)  # doctest: +SKIP
  >>> source.anomaly.x_test.shape, int(source.anomaly.y_test.sum())  # doctest: +SKIP
  ((20302, 28, 28, 1), 7877)
"""

import gzip
import os

import numpy as np
import tensorflow as tf

from engan_tf import data as data_lib

FILES = {
    "train_x": "train-images-idx3-ubyte.gz", "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz", "test_y": "t10k-labels-idx1-ubyte.gz",
}
_IDX_MAGIC = {1: 2049, 3: 2051}  # labels (1-D) and images (3-D), unsigned bytes


def read_idx(path):
  """A uint8 array from an IDX file (gzip or not); checks magic number and size."""
  with tf.io.gfile.GFile(path, "rb") as f:
    raw = f.read()
  if raw[:2] == b"\x1f\x8b":
    raw = gzip.decompress(raw)
  magic = int.from_bytes(raw[:4], "big")
  ndim = raw[3]
  if _IDX_MAGIC.get(ndim) != magic:
    raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic number {magic})")
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
  if body.size != np.prod(shape):
    raise ValueError(f"{path}: header says {shape} ({np.prod(shape)} bytes), body has "
                     f"{body.size}: the file is truncated")
  return body.reshape(shape)


def _local_dir(data_dir):
  for d in ([data_dir, os.path.join(data_dir, "mnist")] if data_dir else []):
    if all(tf.io.gfile.exists(os.path.join(d, f)) for f in FILES.values()):
      return d
  return None


def load_mnist_arrays(data_dir=None):
  """(train_x [60000,28,28], train_y [60000], test_x [10000,28,28], test_y [10000]), uint8."""
  local = _local_dir(data_dir)
  if local:
    arrays = {k: read_idx(os.path.join(local, f)) for k, f in FILES.items()}
    return arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"]
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    splits = tfds.as_numpy(tfds.load("mnist", split=["train", "test"], batch_size=-1,
                                     as_supervised=True, data_dir=data_dir))
  except Exception as e:  # pylint: disable=broad-except
    raise FileNotFoundError(
        f"no MNIST IDX files ({', '.join(FILES.values())}) in {data_dir!r}, and TFDS could not "
        f"load 'mnist' ({e})") from e
  (train_x, train_y), (test_x, test_y) = splits
  return (train_x[..., 0].astype(np.uint8), train_y.astype(np.uint8),
          test_x[..., 0].astype(np.uint8), test_y.astype(np.uint8))


def to_unit_range(images):
  """uint8 [..., 28, 28] -> float32 [..., 28, 28, 1] in [-1, 1]."""
  return (images.astype(np.float32) / 127.5 - 1.0)[..., None]


def held_out_digit_split(labels, anomaly_digit, split_seed=42, train_fraction=0.8):
  """(train_rows, test_rows, test_is_anomaly) of the held-out-digit protocol.

  >>> labels = np.repeat(np.arange(10), 10)   # ten images of each digit
  >>> train_rows, test_rows, is_anomaly = held_out_digit_split(labels, anomaly_digit=1)
  >>> len(train_rows), len(test_rows), int(is_anomaly.sum())   # 80% of 90; 18 + all 10
  (72, 28, 10)
  """
  labels = np.asarray(labels)
  normal = np.flatnonzero(labels != anomaly_digit)
  normal = normal[np.random.RandomState(split_seed).permutation(len(normal))]
  n_train = int(train_fraction * len(normal))
  anomalous = np.flatnonzero(labels == anomaly_digit)
  test_rows = np.concatenate([normal[n_train:], anomalous])
  is_anomaly = np.concatenate([np.zeros(len(normal) - n_train, np.int64),
                               np.ones(len(anomalous), np.int64)])
  return normal[:n_train], test_rows, is_anomaly


@data_lib.register_dataset("mnist_anomaly")
def load_mnist_anomaly(data_dir=None, seed=0, anomaly_digit=None, split_seed=42, **unused):
  del seed, unused
  if anomaly_digit is None or not 0 <= int(anomaly_digit) <= 9:
    raise ValueError(f"--dataset=mnist_anomaly needs --anomaly_digit in 0..9, got "
                     f"{anomaly_digit!r}")
  train_x, train_y, test_x, test_y = load_mnist_arrays(data_dir)
  images = np.concatenate([train_x, test_x])
  labels = np.concatenate([train_y, test_y])
  train_rows, test_rows, is_anomaly = held_out_digit_split(labels, int(anomaly_digit),
                                                           split_seed)
  x_train = to_unit_range(images[train_rows])

  def train_dataset(batch_size, n_critic, seed):
    return data_lib.array_train_dataset(x_train, batch_size, n_critic, seed)

  anomaly = data_lib.AnomalyData(x_train=x_train, x_test=to_unit_range(images[test_rows]),
                                 y_test=is_anomaly, test_classes=labels[test_rows])
  return data_lib.DataSource("mnist_anomaly", "image_anomaly", (28, 28, 1), train_dataset,
                             default_networks="dcgan28", default_latent_dim=100,
                             anomaly=anomaly, **data_lib.PIXEL_SCALE)
