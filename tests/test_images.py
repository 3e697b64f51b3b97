"""Image data sets (StackedMNIST, CIFAR-10, CelebA), conv networks and the image evaluator."""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
import tensorflow_datasets as tfds

from engan_tf import data
from engan_tf import evaluation
from engan_tf import networks
from engan_tf import training
from engan_tf.data import images
from engan_tf.data import mnist  # noqa: F401  the IDX reader: if it breaks, fail, never skip
from engan_tf.metrics import inception
from engan_tf.metrics import mnist_classifier


def _batch(source, batch_size=4, n_critic=2):
  return next(iter(source.train_dataset(batch_size, n_critic, 0))).numpy()


def test_gather_stacks_puts_digit_k_in_channel_k():
  digits = np.arange(30, dtype=np.uint8)[:, None, None] * np.ones([1, 28, 28], np.uint8)
  indices = images.stack_indices(30, 3, 1000, stack_seed=1)
  assert indices.shape == (1000, 3) and indices.min() >= 0 and indices.max() < 30
  stacked = images.gather_stacks(tf.constant(digits), indices).numpy()
  assert stacked.shape == (1000, 28, 28, 3)
  np.testing.assert_array_equal(stacked[:, 5, 7, :], indices)
  np.testing.assert_array_equal(images.stack_indices(30, 3, 1000, stack_seed=1), indices)
  np.testing.assert_array_equal(images.mode_index([[1, 2, 3], [0, 0, 9]]), [123, 9])


def test_stacked_mnist3_construction(data_dir):
  source = data.load_dataset("stacked_mnist3", data_dir=data_dir)
  assert source.kind == "image" and source.data_shape == (28, 28, 3)
  counting = source.images.modes
  indices, labels = counting.stack_indices, counting.mode_labels
  assert indices.shape == (128_000, 3) and counting.num_modes == 1000
  # The fixed draw does not depend on the run seed.
  other = data.load_dataset("stacked_mnist3", data_dir=data_dir, seed=7)
  np.testing.assert_array_equal(other.images.modes.stack_indices, indices)
  # Mode labels are the channels' digit labels read as a decimal number; all 1000 occur.
  train_x, train_y, _, _ = images.mnist_arrays(data_dir)
  np.testing.assert_array_equal(labels, images.mode_index(train_y[indices]))
  assert len(np.unique(labels)) == 1000
  # Channels are independent draws: channel 0's digit tells nothing about channel 1's.
  table = np.histogram2d(train_y[indices[:, 0]], train_y[indices[:, 1]], bins=10)[0]
  assert scipy.stats.chi2_contingency(table).pvalue > 1e-3
  # The pixels are the MNIST digits, scaled to [-1, 1].
  first = next(iter(source.images.reference_images(16))).numpy()
  expected = np.stack([train_x[indices[:16, k]] for k in range(3)], -1) / 127.5 - 1.0
  np.testing.assert_allclose(first, expected, atol=1e-6)
  x = _batch(source)
  assert x.shape == (4, 2, 28, 28, 3) and x.dtype == np.float32
  assert x.min() >= -1.0 and x.max() <= 1.0
  assert images.to_uint8(np.array([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]


def test_stacked_mnist4_and_mnist(data_dir):
  source = data.load_dataset("stacked_mnist4", data_dir=data_dir)
  assert source.data_shape == (28, 28, 4) and source.images.modes.num_modes == 10_000
  assert source.images.modes.stack_indices.shape == (1_280_000, 4)
  assert _batch(source).shape == (4, 2, 28, 28, 4)
  mnist = data.load_dataset("mnist", data_dir=data_dir)
  x = _batch(mnist)
  assert mnist.data_shape == (28, 28, 1) and x.min() >= -1.0 and x.max() <= 1.0
  assert mnist.images.test_images.shape == (10000, 28, 28, 1)


def test_cifar10_on_tfds_mock_data():
  with tfds.testing.mock_data(num_examples=24):
    source = data.load_dataset("cifar10")
    x = _batch(source, batch_size=3, n_critic=5)
  assert source.data_shape == (32, 32, 3) and source.default_networks == "sngan32"
  assert x.shape == (3, 5, 32, 32, 3) and x.dtype == np.float32
  assert -1.0 <= x.min() < x.max() <= 1.0


def test_celeb_a_on_tfds_mock_data():
  with tfds.testing.mock_data(num_examples=8):
    source = data.load_dataset("celeb_a")
    x = _batch(source, batch_size=2, n_critic=2)
    reference = next(iter(source.images.reference_images(3))).numpy()
  assert source.data_shape == (64, 64, 3) and source.default_networks == "dcgan64"
  assert x.shape == (2, 2, 64, 64, 3) and reference.shape == (3, 64, 64, 3)
  assert -1.0 <= x.min() < x.max() <= 1.0


def test_missing_cifar10_gives_an_actionable_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="--data_dir"):
    data.load_dataset("cifar10", data_dir=str(tmp_path))


@pytest.mark.parametrize("name,shape", [("sngan32", (32, 32, 3)), ("dcgan64", (64, 64, 3))])
def test_conv_networks_shapes(name, shape):
  nets = networks.build_networks(name, shape, latent_dim=16, dim=4)
  x = nets.generator(tf.random.normal([2, 16]))
  assert x.shape == (2,) + shape and np.abs(x.numpy()).max() <= 1.0
  assert nets.energy(x).shape == (2,) and nets.statistics([x, tf.zeros([2, 16])]).shape == (2,)
  # No batch norm in E or T: the score penalty is per example.
  for net in (nets.energy, nets.statistics):
    assert not any("batch_norm" in layer.__class__.__name__.lower() for layer in net.layers)
  # `dim` is the width: the first conv of E has dim channels.
  assert nets.energy.get_layer("energy_conv0").filters == 4
  with pytest.raises(ValueError, match="needs"):
    networks.build_networks(name, (28, 28, 1), latent_dim=16, dim=4)


def test_xla_is_the_default_except_for_conv_networks_on_a_cpu():
  from engan_tf import build
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("a GPU is visible: conv networks keep XLA there")
  assert [build.default_jit_compile(name) for name in ("sngan32", "dcgan28", "dcgan64")] == [
      False] * 3
  assert build.default_jit_compile("mlp512") and build.default_jit_compile("kdd")
  source = data.load_dataset("8gaussians")
  for given, resolved in ((None, True), (False, False)):
    config = training.TrainConfig(dataset="8gaussians", jit_compile=given)
    assert build.resolve(config, source).jit_compile is resolved


def test_cifar10_slice_trains_and_scores(data_dir, tmp_path):
  config = training.TrainConfig(dataset="cifar10", data_dir=data_dir, model_dir=str(tmp_path),
                                dim=4, latent_dim=16, train_steps=4, steps_per_epoch=2,
                                batch_size=8, lambda_penalty=10.0, eval_every=1,
                                n_critic=2, verbose=0)
  summary = training.train(config)
  assert summary["step"] == 4
  # XLA as build.default_jit_compile chose for sngan32 (off on a CPU), in config.json.
  from engan_tf import build
  assert training.restore(str(tmp_path), with_data=False).config.jit_compile is (
      build.default_jit_compile("sngan32"))
  png = tf.io.decode_png(tf.io.read_file(str(tmp_path / "samples.png"))).numpy()
  assert png.shape[-1] == 3 and png.shape[0] >= 8 * 32
  source, model = training.restore(str(tmp_path))[1:3]
  samples = evaluation.generate(model, 16)
  assert samples.shape == (16, 32, 32, 3) and np.abs(samples).max() <= 1.0
  # The IS/FID pipeline on the trained generator, with the random stand-in network.
  scores, _ = inception.evaluate_generator(
      model.generator, model.latent_dim, source.images.reference_images(50),
      inception.random_feature_network(), num_samples=100, batch_size=50, splits=2)
  assert np.isfinite(scores["fid"]) and scores["inception_score"] >= 1.0


def test_image_evaluator_counts_modes_with_a_classifier(data_dir, tmp_path, monkeypatch):
  from engan_tf.metrics import modes
  monkeypatch.setattr(modes, "samples_per_evaluation", lambda num_stacks: 2600)  # paper: 26,000
  path = str(tmp_path / "classifier.keras")
  mnist_classifier.build_classifier().save(path)  # untrained: the wiring is what is tested
  source = data.load_dataset("stacked_mnist3", data_dir=data_dir, mode_classifier=path)
  nets = networks.build_networks("mlp512", source.data_shape, latent_dim=4, dim=8)

  class Model:
    generator, energy, latent_dim = nets.generator, nets.energy, 4

  result = evaluation.evaluate(Model, source)
  assert result.metrics["num_samples"] == 2600
  # The same samples classified channel by channel here, counted with numpy.
  samples = evaluation.generate(Model, 2600)
  classifier = mnist_classifier.load_classifier(path)
  digits = [np.argmax(classifier.predict(samples[..., k:k + 1], verbose=0), axis=1)
            for k in range(3)]
  numbers = 100 * digits[0] + 10 * digits[1] + digits[2]
  q = np.unique(numbers, return_counts=True)[1] / len(numbers)
  assert result.metrics["modes"] == len(q)
  assert result.metrics["kl"] == pytest.approx(np.sum(q * np.log(q)) + np.log(1000), abs=1e-6)
  assert result.picture.dtype == np.uint8 and result.picture.shape == (8 * 30, 8 * 30, 3)
