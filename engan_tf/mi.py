"""Mutual-information estimators between the generator's output and its latent code.

EnGAN maximises the entropy of p_G through I(G(Z); Z) = H(G(Z)) (G is deterministic),
estimated with the Deep InfoMax Jensen-Shannon bound (paper eq. 5):

  I_JSD(X, Z) = E_{p(x,z)}[-softplus(-T(x, z))] - E_{p(x)p(z)}[softplus(T(x, z'))]

Samples of the product of marginals pair each x with a z' from another example: the
paper (Algorithm 1, after Brakel & Bengio 2017) shuffles each latent dimension
independently across the minibatch. `L_H = -I_JSD` is minimised by T (tightening the
bound) and by G (raising the entropy).

Example:
  >>> z = tf.random.normal([256, 2])
  >>> z_neg = shuffle_per_dimension(z)
  >>> l_h = jsd_loss(t_joint=T([x, z]), t_marginal=T([x, z_neg]))
"""

import tensorflow as tf


def _uniform(shape, rng):
  return rng.uniform(shape) if rng is not None else tf.random.uniform(shape)


def shuffle_per_dimension(z, rng=None):
  """Permutes every column of `z` [batch, dim] independently across the batch.

  Each column keeps its multiset of values; the rows become (approximately) draws from
  the product of the per-dimension marginals.
  """
  # A random permutation per column: argsort of i.i.d. uniforms.
  perm = tf.argsort(_uniform(tf.shape(z), rng), axis=0)  # [batch, dim]
  return tf.transpose(tf.gather(tf.transpose(z), tf.transpose(perm), batch_dims=1))


def shuffle_rows(z, rng=None):
  """Permutes whole rows of `z` (the other common choice of negatives)."""
  perm = tf.argsort(_uniform(tf.shape(z)[:1], rng))
  return tf.gather(z, perm)


SHUFFLES = {"per_dimension": shuffle_per_dimension, "rows": shuffle_rows}


def jsd_loss(t_joint, t_marginal):
  """L_H = mean softplus(-T(x, z)) + mean softplus(T(x, z')) = -I_JSD (paper eq. 5-6)."""
  return tf.reduce_mean(tf.nn.softplus(-t_joint)) + tf.reduce_mean(tf.nn.softplus(t_marginal))


def jsd_mi_estimate(t_joint, t_marginal):
  """The Jensen-Shannon MI estimate I_JSD (eq. 5) = 2 JSD - 2 log 2, in [-2 log 2, 0]."""
  return -jsd_loss(t_joint, t_marginal)
