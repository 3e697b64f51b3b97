"""IS and FID: arithmetic against closed forms and float64 references, and the pipeline."""

import math

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from engan_tf.metrics import inception


def test_fid_of_gaussians_matches_the_closed_form():
  # Diagonal (commuting) covariances: FID = |mu1 - mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2)).
  mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
  s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
  got = inception.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
  assert got == pytest.approx(expected, rel=1e-10)
  # 1-D: (mu1 - mu2)^2 + (sigma1 - sigma2)^2, the W2 distance squared.
  assert inception.frechet_distance(0.0, 4.0, 3.0, 1.0) == pytest.approx(9.0 + 1.0)


def test_fid_matches_a_float64_reference_on_fixed_features():
  rng = np.random.default_rng(0)
  real = rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16))
  fake = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) + 0.3
  mu_r, sigma_r = inception.gaussian_statistics(real)
  mu_f, sigma_f = inception.gaussian_statistics(fake)
  np.testing.assert_allclose(sigma_r, np.cov(real.T), rtol=1e-12)
  # Reference: Tr (S_r S_f)^(1/2) = Tr (S_r^(1/2) S_f S_r^(1/2))^(1/2), symmetric, via eigh.
  root_r = scipy.linalg.sqrtm(sigma_r).real
  eig = np.linalg.eigvalsh(root_r @ sigma_f @ root_r)
  reference = (np.sum((mu_r - mu_f) ** 2) + np.trace(sigma_r) + np.trace(sigma_f)
               - 2 * np.sum(np.sqrt(np.clip(eig, 0, None))))
  assert inception.frechet_distance(mu_r, sigma_r, mu_f, sigma_f) == pytest.approx(reference,
                                                                                    rel=1e-8)
  assert abs(inception.frechet_distance(mu_r, sigma_r, mu_r, sigma_r)) < 1e-6


def test_inception_score_on_fixed_logits():
  # Uniform predictions: p(y|x) = p(y), IS = 1.
  assert inception.inception_score(np.zeros([100, 10]))[0] == pytest.approx(1.0)
  # Confident and balanced over K classes in every split: IS = K.
  confident = 50.0 * np.eye(10)[np.tile(np.arange(10), 20)]
  mean, std = inception.inception_score(confident, splits=10)
  assert mean == pytest.approx(10.0, rel=1e-6) and std < 1e-6
  # One split, by hand: p(y|x) rows (0.5, 0.5) and (1, 0) (logit gap 60 ~ certain).
  logits = np.array([[0.0, 0.0], [30.0, -30.0]])
  marginal = np.array([0.75, 0.25])
  kl = np.array([0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25), math.log(1 / 0.75)])
  assert inception.inception_score(logits, splits=1)[0] == pytest.approx(math.exp(kl.mean()))
  del marginal


def test_pipeline_end_to_end_with_a_random_feature_network():
  network = inception.random_feature_network(seed=0, image_size=32)
  keras.utils.set_random_seed(1)
  generator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16 * 16 * 3),
                                keras.layers.Reshape((16, 16, 3)),
                                keras.layers.Activation("tanh")])
  rng = np.random.default_rng(0)
  real = rng.uniform(-1, 1, size=(300, 16, 16, 3)).astype(np.float32)
  batches = lambda: tf.data.Dataset.from_tensor_slices(real).batch(64)
  scores, stats = inception.evaluate_generator(generator, 8, batches(), network, num_samples=300,
                                               batch_size=64, splits=3)
  assert scores["fid"] > 0 and 1.0 <= scores["inception_score"] <= 10.0
  assert stats[0].shape == (64,) and stats[1].shape == (64, 64)
  # The real set against its own statistics: FID ~ 0.
  pool, _ = inception.activations(network, batches(), 300)
  assert abs(inception.frechet_distance(*inception.gaussian_statistics(pool), *stats)) < 1e-6
  # Cached reference statistics give the same FID.
  again, _ = inception.evaluate_generator(generator, 8, None, network, 300, 64, stats, splits=3)
  assert again["fid"] == pytest.approx(scores["fid"])
  with pytest.raises(ValueError, match="only 300"):
    inception.activations(network, batches(), 301)


def test_prepare_resizes_and_tiles_grey_images():
  out = inception.prepare(np.zeros([2, 28, 28, 1], np.float32), 299)
  assert out.shape == (2, 299, 299, 3)
  with pytest.raises(ValueError, match="channels"):
    inception.prepare(np.zeros([2, 28, 28, 4], np.float32), 299)


def test_inception_v3_wiring_without_weights():
  network = inception.inception_v3(weights=None)
  pool, logits = network.model(inception.prepare(np.zeros([2, 32, 32, 3], np.float32), 299))
  assert pool.shape == (2, 2048) and logits.shape == (2, 1000)
  with pytest.raises(FileNotFoundError, match="inception_weights"):
    inception.inception_v3("/nonexistent/weights.h5")
