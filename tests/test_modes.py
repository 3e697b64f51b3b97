"""StackedMNIST mode counting and the MNIST classifier's data path."""

import math

import numpy as np
import pytest
import tensorflow as tf

from engan_tf.metrics import mnist_classifier
from engan_tf.metrics import modes


def test_mode_statistics_known_histograms():
  every_mode_once = modes.mode_statistics(np.arange(1000), 1000)
  assert every_mode_once["modes"] == 1000 and abs(every_mode_once["kl"]) < 1e-12
  half_twice = modes.mode_statistics(np.repeat(np.arange(0, 1000, 2), 2), 1000)
  assert half_twice["modes"] == 500 and half_twice["kl"] == pytest.approx(math.log(2))
  one_mode = modes.mode_statistics(np.full(26, 7), 1000)
  assert one_mode["modes"] == 1 and one_mode["kl"] == pytest.approx(math.log(1000))
  # q = (1/2, 1/4, 1/4) over 4 modes: KL = sum q log(4 q).
  three = modes.mode_statistics(np.array([0, 0, 1, 3]), 4)
  expected = 0.5 * math.log(2) + 2 * 0.25 * math.log(1)
  assert three["modes"] == 3 and three["kl"] == pytest.approx(expected)
  with pytest.raises(ValueError, match="mode numbers"):
    modes.mode_statistics(np.array([1000]), 1000)


def _intensity_classifier(images, training=False):
  """A stand-in classifier: digit d is drawn as a constant image of value d / 10 - 0.45."""
  level = tf.reduce_mean(images, axis=[1, 2, 3])
  digit = tf.cast(tf.round((level + 0.45) * 10), tf.int32)
  return tf.one_hot(digit, 10)


def test_channels_are_classified_separately_and_in_order():
  rng = np.random.default_rng(0)
  digits = rng.integers(0, 10, size=(500, 3))
  samples = np.broadcast_to((digits / 10 - 0.45)[:, None, None, :], (500, 28, 28, 3))
  np.testing.assert_array_equal(modes.classify_stacks(_intensity_classifier, samples, 128), digits)
  stats = modes.mode_statistics_of_samples(_intensity_classifier, samples, batch_size=128)
  mode_numbers = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
  assert stats["modes"] == len(np.unique(mode_numbers)) and stats["num_samples"] == 500
  q = np.bincount(mode_numbers, minlength=1000) / 500
  assert stats["kl"] == pytest.approx(np.sum(q[q > 0] * np.log(1000 * q[q > 0])))
  assert modes.samples_per_evaluation(3) == 26_000 and modes.samples_per_evaluation(4) == 260_000
  with pytest.raises(ValueError, match=r"\[N, 28, 28, n\]"):
    modes.classify_stacks(_intensity_classifier, np.zeros([2, 32, 32, 3]))


def test_classifier_data_path_train_save_load(data_dir, tmp_path):
  from engan_tf.data import images
  train_x, train_y, test_x, test_y = images.mnist_arrays(data_dir)
  assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
  assert train_x.dtype == np.uint8 and set(np.unique(test_y)) == set(range(10))
  inputs = mnist_classifier.to_classifier_input(test_x[:100])
  assert inputs.shape == (100, 28, 28, 1) and inputs.min() == -1.0 and inputs.max() == 1.0
  # A short run on a slice: the full command (3 epochs on 60,000) reaches >= 99%.
  classifier, accuracy = mnist_classifier.train_classifier(
      train_x[:3000], train_y[:3000], test_x[:1000], test_y[:1000], epochs=1, verbose=0)
  assert accuracy > 0.8
  path = str(tmp_path / "classifier.keras")
  classifier.save(path)
  reloaded = mnist_classifier.load_classifier(path)
  np.testing.assert_array_equal(mnist_classifier.predict_digits(reloaded, inputs),
                                mnist_classifier.predict_digits(classifier, inputs))
  # Real digits stacked as channels: the modes are the label tuples (up to classifier errors).
  stacked = np.stack([inputs[:50, ..., 0], inputs[50:, ..., 0], inputs[:50, ..., 0]], -1)
  digits = modes.classify_stacks(classifier, stacked)
  truth = np.stack([test_y[:50], test_y[50:100], test_y[:50]], -1)
  assert (digits == truth).mean() > 0.8
  with pytest.raises(FileNotFoundError, match="mnist_classifier"):
    mnist_classifier.load_classifier(str(tmp_path / "missing.keras"))
