"""WGAN-GP baseline: its penalty, its training step, and the trainer's --model=wgan_gp."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from engan_tf import losses
from engan_tf import networks
from engan_tf import training
from engan_tf import wgan_gp


def test_interpolation_penalty_of_a_linear_critic_is_exact():
  w = tf.constant([[3.0], [4.0]])  # ||w|| = 5: penalty (5 - 1)^2 = 16 at every x_hat
  critic = lambda x, training=False: tf.reshape(x @ w, [-1])
  x_real, x_fake = tf.random.normal([8, 2]), tf.random.normal([8, 2])
  eps = tf.random.uniform([8, 1])
  penalty = losses.interpolation_gradient_penalty(critic, x_real, x_fake, eps)
  np.testing.assert_allclose(penalty.numpy(), 16.0, rtol=1e-5)


def test_train_step_lowers_the_critic_loss():
  keras.utils.set_random_seed(0)
  nets = networks.build_networks("mlp512", (2,), latent_dim=2, dim=32)
  model = wgan_gp.WGANGP(nets.energy, nets.generator, latent_dim=2, n_critic=5,
                         lambda_penalty=10.0, seed=0)
  model.compile(keras.optimizers.Adam(1e-3, 0.5, 0.9), keras.optimizers.Adam(1e-4, 0.5, 0.9))
  model.build_optimizers()
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=(128, 5, 2)) * 0.1 + 1.0, tf.float32)
  data = {"x": x, "z_critic": tf.constant(rng.normal(size=(128, 5, 2)), tf.float32),
          "z": tf.constant(rng.normal(size=(128, 2)), tf.float32)}

  def wasserstein_gap():  # mean D(real) - mean D(fake): the critic drives it down
    fake = model.generator(data["z"])
    return float(tf.reduce_mean(model.energy(x[:, 0])) - tf.reduce_mean(model.energy(fake)))

  before = wasserstein_gap()
  step = tf.function(model.train_step)
  for _ in range(20):
    logs = step(data)
  assert set(logs) == {"d_real", "d_fake", "gradient_penalty", "d_loss", "g_loss"}
  assert wasserstein_gap() < before - 0.5
  assert not hasattr(model, "statistics")  # no entropy term, no T


def test_trainer_runs_and_restores_wgan_gp(tmp_path):
  config = training.TrainConfig(dataset="25gaussians", model="wgan_gp", model_dir=str(tmp_path),
                                dim=32, train_steps=20, steps_per_epoch=10, batch_size=64,
                                lambda_penalty=10.0, eval_every=0, verbose=0, n_critic=2,
                                jit_compile=False)  # short: a smaller trace, no XLA
  summary = training.train(config)
  assert summary["step"] == 20
  assert os.path.exists(tmp_path / "samples.png")
  model = training.restore(str(tmp_path)).model
  assert isinstance(model, wgan_gp.WGANGP) and int(model.g_optimizer.iterations.numpy()) == 20


def test_bad_model_flags_are_refused():
  with pytest.raises(ValueError, match="--model must be one of"):
    training.TrainConfig(model="vae").validate()
  with pytest.raises(ValueError, match="--mcmc_steps"):
    training.TrainConfig(model="wgan_gp", mcmc_steps=5).validate()
