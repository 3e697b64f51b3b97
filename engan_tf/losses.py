"""The energy function's objective (paper eq. 3 and Algorithm 1).

  L_E = mean E(x_real) - mean E(x_fake) + lambda * mean ||grad_x E(x_real)||^2

The score penalty is taken at the real data only ("score penalty", not WGAN-GP's
interpolates); it fixes the scale (temperature) of the energy.

Example, with E(x) = ||x||^2 / 2 (so grad_x E(x) = x):
  >>> energy_fn = lambda x, training=False: 0.5 * tf.reduce_sum(tf.square(x), axis=-1)
  >>> x_real, x_fake = tf.ones([4, 2]), tf.zeros([4, 2])
  >>> e_real, sq_norm = energy_and_score_norm(energy_fn, x_real)
  >>> e_real.numpy().tolist(), sq_norm.numpy().tolist()
  ([1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0])
  >>> loss = energy_loss(e_real, energy_fn(x_fake), sq_norm, lambda_penalty=0.1)
  >>> round(float(loss), 3)   # 1 - 0 + 0.1 * 2
  1.2
"""

import tensorflow as tf


def energy_and_input_gradient(energy_fn, x, training=False):
  """Returns (E(x) [batch], grad_x E(x) [batch, ...]), differentiable in E's weights."""
  x = tf.convert_to_tensor(x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    energy = energy_fn(x, training=training)
    # Each example's energy depends only on its own x: the gradient of the sum is per-example.
    total = tf.reduce_sum(energy)
  return energy, tape.gradient(total, x)


def squared_norm(grad):
  """[batch]: the squared norm of each example's gradient."""
  return tf.reduce_sum(tf.reshape(tf.square(grad), [tf.shape(grad)[0], -1]), axis=1)


def energy_and_score_norm(energy_fn, x, training=False):
  """Returns (E(x) [batch], ||grad_x E(x)||^2 [batch]), differentiable in E's weights.

  ||grad_x E(x)||^2 is also the paper's anomaly decision function (Section 5.4).
  """
  energy, grad = energy_and_input_gradient(energy_fn, x, training)
  return energy, squared_norm(grad)


def denoising_residual(grad_at_noisy, eps, sigma):
  """[batch]: 0.5 ||sigma grad E(x + sigma eps) - eps||^2 from the gradient at x + sigma eps."""
  return 0.5 * squared_norm(sigma * grad_at_noisy - eps)


def denoising_score_matching(energy_fn, x, eps, sigma, training=False):
  """[batch]: 0.5 ||sigma grad_x E(x + sigma eps) - eps||^2 (Vincent 2011), differentiable
  in E's weights.

  Its minimiser over E is the energy of the data smoothed by N(0, sigma^2 I), E = -log p_sigma
  + const: the density EnGAN's energy targets, at the noise's resolution. The penalty of
  eq. 3 sets grad E to zero on the data; this term also sets it around the data, where it
  points back to the nearest rows, so E rises away from them instead of staying flat.
  """
  _, grad = energy_and_input_gradient(energy_fn, x + sigma * eps, training)
  return denoising_residual(grad, eps, sigma)


def energy_loss(e_real, e_fake, score_norm_real, lambda_penalty):
  """L_E of Algorithm 1 from per-example energies and squared score norms."""
  return (tf.reduce_mean(e_real) - tf.reduce_mean(e_fake)
          + lambda_penalty * tf.reduce_mean(score_norm_real))


def generator_loss(e_fake, l_h):
  """L_G = mean E(G(z)) + L_H (paper eq. 6, with L_H = -I_JSD)."""
  return tf.reduce_mean(e_fake) + l_h


def interpolation_gradient_penalty(critic_fn, x_real, x_fake, eps, training=False):
  """WGAN-GP's penalty (Gulrajani et al. 2017): mean (||grad D(x_hat)||_2 - 1)^2.

  x_hat = eps * x_real + (1 - eps) * x_fake, with eps ~ U[0, 1] per example, broadcast
  over the data axes (shape [batch, 1, ..., 1]).
  """
  x_hat = eps * x_real + (1.0 - eps) * x_fake
  _, sq_norm = energy_and_score_norm(critic_fn, x_hat, training=training)
  # The 1e-12 keeps the gradient of the norm finite where grad D(x_hat) = 0.
  return tf.reduce_mean(tf.square(tf.sqrt(sq_norm + 1e-12) - 1.0))
