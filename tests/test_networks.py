"""The network registry and the MLP families' energy heads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from engan_tf import losses
from engan_tf import networks


def test_every_mlp_family_builds_e_g_t_with_the_right_shapes():
  for name, shape in [("mlp512", (2,)), ("mlp512_swish_energy", (2,)),
                      ("mlp512_quadratic_energy", (2,)), ("kdd", (121,)),
                      ("kdd_swish_energy", (121,)), ("kdd_quadratic_energy", (121,))]:
    nets = networks.build_networks(name, shape, latent_dim=4, dim=8)
    z = tf.random.normal([3, 4])
    x = nets.generator(z)
    assert x.shape == (3,) + shape, name
    assert nets.energy(x).shape == (3,), name
    assert nets.statistics([x, z]).shape == (3,), name
  with pytest.raises(ValueError, match="mlp512"):
    networks.build_networks("nope", (2,), latent_dim=2)


def _along_a_ray(energy, distances):
  direction = tf.constant([[0.6, 0.8]])
  x = tf.constant(distances, tf.float32)[:, None] * direction
  e, norm = losses.energy_and_score_norm(energy, x)
  return e.numpy(), norm.numpy()


def test_quadratic_head_is_half_the_squared_norm_of_its_features():
  keras.utils.set_random_seed(0)
  energy = networks.build_networks("mlp512_quadratic_energy", (2,), 2, dim=16).energy
  x = tf.random.normal([5, 2])
  features = keras.Model(energy.input, energy.get_layer("energy_features").output)(x)
  np.testing.assert_allclose(energy(x), 0.5 * tf.reduce_sum(features ** 2, -1), rtol=1e-5)
  assert (energy(tf.random.normal([100, 2]) * 10).numpy() >= 0).all()


def test_far_from_the_data_the_quadratic_score_norm_grows_and_the_linear_one_does_not():
  # Both trunks are piecewise linear, so far out along a ray E is linear (linear head,
  # constant ||grad E||^2) or quadratic (quadratic head, ||grad E||^2 ~ distance^2).
  keras.utils.set_random_seed(0)
  distances = [100.0, 200.0, 400.0]
  _, linear = _along_a_ray(networks.build_networks("mlp512", (2,), 2, dim=16).energy,
                           distances)
  np.testing.assert_allclose(linear, linear[0], rtol=1e-4)
  energy, quadratic = _along_a_ray(
      networks.build_networks("mlp512_quadratic_energy", (2,), 2, dim=16).energy, distances)
  np.testing.assert_allclose(quadratic[1:] / quadratic[:-1], 4.0, rtol=1e-3)
  np.testing.assert_allclose(energy[1:] / energy[:-1], 4.0, rtol=1e-2)
