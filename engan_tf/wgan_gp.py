"""WGAN-GP (Gulrajani et al. 2017), the baseline the paper compares EnGAN against.

The critic plays the role of EnGAN's energy (low on data), so the same trainer, data,
networks and budget apply; only the objectives differ:

  critic:    L_D = mean D(x) - mean D(G(z)) + lambda * mean (||grad D(x_hat)||_2 - 1)^2,
             x_hat = eps x + (1 - eps) G(z),  eps ~ U[0, 1] per example
  generator: L_G = mean D(G(z))                  (no entropy term, no statistics network)

With this sign convention D is -1 times the critic of the WGAN-GP paper; the losses are
the same. Use lambda = 10, as the WGAN-GP paper does.

Example (the fit, 100 generator steps on 8gaussians, is not run by the doctests):
  >>> import keras
  >>> from engan_tf.data import load_dataset
  >>> from engan_tf.networks import build_networks
  >>> nets = build_networks("mlp512", (2,), latent_dim=2)
  >>> model = WGANGP(nets.energy, nets.generator, latent_dim=2, lambda_penalty=10.0)
  >>> model.compile(keras.optimizers.Adam(1e-4, 0.5, 0.9), keras.optimizers.Adam(1e-4, 0.5, 0.9))
  >>> model.step   # generator updates so far
  0
  >>> source = load_dataset("8gaussians")
  >>> history = model.fit(source.train_dataset(256, 5, 0), steps_per_epoch=100,  # doctest: +SKIP
  ...                     epochs=1)
"""

import tensorflow as tf

from engan_tf import adversarial
from engan_tf import losses


class WGANGP(adversarial.AdversarialEnergyModel):
  """Critic (stored as `energy`) and generator trained by WGAN-GP."""

  critic_metrics = ("d_real", "d_fake", "gradient_penalty", "d_loss")
  generator_metrics = ("g_loss",)

  def __init__(self, energy, generator, latent_dim, n_critic=5, lambda_penalty=10.0, seed=0,
               **kwargs):
    super().__init__(energy, generator, latent_dim, n_critic=n_critic,
                     lambda_penalty=lambda_penalty, seed=seed, **kwargs)

  def critic_loss(self, x_real, x_fake):
    d_real = self.energy(x_real, training=True)
    d_fake = self.energy(x_fake, training=True)
    eps_shape = tf.concat([tf.shape(x_real)[:1], tf.ones([tf.rank(x_real) - 1], tf.int32)], 0)
    eps = self.rng.uniform(eps_shape)
    penalty = losses.interpolation_gradient_penalty(self.energy, x_real, x_fake, eps,
                                                    training=True)
    d_loss = tf.reduce_mean(d_real) - tf.reduce_mean(d_fake) + self.lambda_penalty * penalty
    return d_loss, dict(zip(self.critic_metrics, (d_real, d_fake, penalty, d_loss)))

  def generator_update(self, noise, batch, scale):
    z = noise["z"] if "z" in noise else self.sample_latent(batch)
    g_vars = self.generator.trainable_variables
    with tf.GradientTape() as tape:
      g_loss = tf.reduce_mean(self.energy(self.generator(z, training=True), training=True))
      scaled_loss = g_loss * scale
    grads = tape.gradient(scaled_loss, g_vars)
    self.g_optimizer.apply_gradients(zip(grads, g_vars))
    return {"g_loss": g_loss}
