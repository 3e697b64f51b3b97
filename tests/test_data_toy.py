"""The toy densities and their metrics."""

import numpy as np
import pytest
import tensorflow as tf

from engan_tf import data
from engan_tf.data import toy
from engan_tf.metrics import toy as toy_metrics


def test_train_dataset_shape_and_determinism():
  source = data.load_dataset("25gaussians")
  a = next(iter(source.train_dataset(8, 5, 7)))
  b = next(iter(source.train_dataset(8, 5, 7)))
  assert a.shape == (8, 5, 2) and a.dtype == tf.float32
  np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_unknown_dataset_names_the_choices():
  with pytest.raises(ValueError, match="unknown dataset 'nope'.*25gaussians"):
    data.load_dataset("nope")


@pytest.mark.parametrize("name,n_modes", [("25gaussians", 25), ("8gaussians", 8)])
def test_true_samples_cover_every_mode(name, n_modes):
  density = toy.TOY_DENSITIES[name]
  x = density.sample(tf.constant([0, 1]), 10_000).numpy()
  stats = toy_metrics.mode_statistics(x, density.mode_centers, density.mode_std)
  assert stats["modes_covered"] == n_modes
  assert stats["high_quality_fraction"] > 0.98  # 3 std in 2-D holds 98.9%
  assert stats["kl_to_uniform"] < 0.01
  assert 0.95 < stats["high_quality_spread"] < 0.99  # 3-std truncation of a unit spread
  centers = density.mode_centers[np.argmin(((x[:, None] - density.mode_centers) ** 2).sum(-1), 1)]
  narrow = toy_metrics.mode_statistics(centers + 0.5 * (x - centers), density.mode_centers,
                                       density.mode_std)
  assert narrow["high_quality_fraction"] > 0.99 and 0.45 < narrow["high_quality_spread"] < 0.55


def test_mixture_geometry_matches_the_reference_setup():
  np.testing.assert_allclose(toy.TOY_DENSITIES["25gaussians"].mode_centers.max(), 4 / 2.828)
  np.testing.assert_allclose(np.linalg.norm(toy.TOY_DENSITIES["8gaussians"].mode_centers, axis=1),
                             2 / 1.414)
  x = toy.TOY_DENSITIES["swissroll"].sample(tf.constant([0, 1]), 20_000).numpy()
  radius = np.linalg.norm(x, axis=1) * 7.5  # |(t cos t, t sin t)| = t in [1.5 pi, 4.5 pi]
  assert 1.5 * np.pi - 1.5 < radius.min() and radius.max() < 4.5 * np.pi + 1.5


@pytest.mark.parametrize("name,truth", [("25gaussians", 2.02), ("8gaussians", 3.60)])
def test_log_likelihood_of_the_true_energy(name, truth):
  density = toy.TOY_DENSITIES[name]
  # E = -log p_true: Z = 1, and the mean log-likelihood is the negative entropy.
  energy = lambda x, training=False: tf.constant(-toy.true_log_prob(density, x.numpy()),
                                                 tf.float32)
  x = density.sample(tf.constant([2, 3]), 5000).numpy()
  result = toy_metrics.log_likelihood(energy, x, points_per_axis=640, outer_half_width=8.0)
  assert abs(result["log_z"]) < 0.02
  assert abs(result["log_likelihood"] - truth) < 0.05
  assert result["mass_outside_inner_box"] < 1e-6


def test_swissroll_log_density_by_quadrature_integrates_to_one():
  density = toy.TOY_DENSITIES["swissroll"]
  energy = lambda x, training=False: tf.constant(-toy.true_log_prob(density, x.numpy()),
                                                 tf.float32)
  x = density.sample(tf.constant([2, 3]), 500).numpy()
  # The roll lies within radius 1.9 + noise: a box of half-width 2.5 holds all its mass; its
  # cells of 0.05 = 1.5 noise std integrate the Gaussians to ~1e-4 (midpoint rule).
  result = toy_metrics.log_likelihood(energy, x, inner_half_width=2.5, outer_half_width=2.5,
                                      points_per_axis=100)
  assert abs(result["log_z"]) < 0.02  # the quadrature mixture is a normalised density
  # A finer curve changes nothing: the quadrature has converged.
  finer = toy._mixture_log_prob(x, toy.swissroll_curve(32768), 0.25 / 7.5)
  np.testing.assert_allclose(toy.true_log_prob(density, x), finer, atol=1e-4)


def test_distance_to_true_samples_has_the_true_floor_and_sees_blur():
  density = toy.TOY_DENSITIES["swissroll"]
  reference = density.sample(tf.constant([0, 0]), 10_000).numpy()
  floor = toy_metrics.nearest_distance(density.sample(tf.constant([0, 1]), 10_000).numpy(),
                                       reference)
  assert 0.005 < floor < 0.009  # the figure issue 20 quotes as the floor: 0.0067
  blurred = density.sample(tf.constant([0, 2]), 10_000).numpy()
  blurred += np.random.default_rng(0).normal(0, 0.1, blurred.shape)
  assert toy_metrics.nearest_distance(blurred, reference) > 5 * floor
  # Samples piled on half of the roll beat the floor one way; the other way sees the gap.
  half = density.sample(tf.constant([0, 3]), 20_000).numpy()
  half = half[np.linalg.norm(half, axis=1) < np.median(np.linalg.norm(half, axis=1))]
  assert toy_metrics.nearest_distance(half, reference) < 1.2 * floor
  assert toy_metrics.nearest_distance(reference, half) > 5 * floor
  stats = toy_metrics.swissroll_statistics(half, density)
  assert stats["nearest_sample_distance"] > 5 * toy_metrics.distance_floor(density)
  assert 0.9 < stats["roll_spread"] < 1.1  # the true roll's own width
  true_x = toy_metrics.reference_samples(density)
  assert 0.97 < toy_metrics.roll_spread(true_x) < 1.03
  spine = toy.swissroll_curve()[::4]  # the noiseless roll: no width
  assert toy_metrics.roll_spread(spine) < 0.05
