"""Mutual-information estimators between the generator's output and its latent code.

EnGAN maximises the entropy of p_G through I(G(Z); Z) = H(G(Z)) (G is deterministic),
estimated with the Deep InfoMax Jensen-Shannon bound (paper eq. 5):

  I_JSD(X, Z) = E_{p(x,z)}[-softplus(-T(x, z))] - E_{p(x)p(z)}[softplus(T(x, z'))]

Samples of the product of marginals pair each x with a z' from another example: the
paper (Algorithm 1, after Brakel & Bengio 2017) shuffles each latent dimension
independently across the minibatch. `L_H = -I_JSD` is minimised by T (tightening the
bound) and by G (raising the entropy).

Example, with G the identity (x = z) and a fixed T(x, z) = <x, z> - 1:
  >>> rng = tf.random.Generator.from_seed(0)
  >>> z = rng.normal([256, 2])
  >>> z_neg = shuffle_per_dimension(z, rng)
  >>> bool(tf.reduce_all(tf.sort(z_neg, axis=0) == tf.sort(z, axis=0)))   # same marginals
  True
  >>> x, T = z, lambda xz: tf.reduce_sum(xz[0] * xz[1], axis=-1) - 1.0
  >>> l_h = jsd_loss(t_joint=T([x, z]), t_marginal=T([x, z_neg]))
  >>> bool(l_h < tf.math.log(4.0))   # x and z dependent: I_JSD > -2 log 2
  True
  >>> round(float(jsd_loss(tf.zeros([256]), tf.zeros([256]))), 3)   # T = 0: L_H = 2 log 2
  1.386
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


def log_det_entropy_gain(generator, z, training=True):
  """mean log|det dG/dz| over the batch: H(G(Z)) - H(Z) for an injective G.

  The change of variables gives the generator's entropy exactly when the latent and data
  dimensions agree (the 2-D toy data), with no statistics network to saturate. Not the
  paper's estimator: a diagnostic of what an unsaturated entropy term does
  (`--entropy=logdet`). Differentiable in G's weights (a double backward pass).
  """
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(z)
    x = generator(z, training=training)
    x = tf.reshape(x, [tf.shape(x)[0], -1])  # (on the tape: the Jacobian goes through it)
    outputs = [tf.reduce_sum(x[:, i]) for i in range(x.shape[1])]
  if x.shape[1] != z.shape[1]:
    raise ValueError(f"--entropy=logdet needs latent_dim == data dimension, got a "
                     f"{x.shape[1]} x {z.shape[1]} Jacobian")
  # Row i of each example's Jacobian is the gradient of sum_batch x_i: examples do not
  # interact in G. One backward pass per data dimension (cheaper than batch_jacobian here).
  jacobian = tf.stack([tape.gradient(out, z) for out in outputs], axis=1)  # [b, d, d]
  del tape
  if x.shape[1] == 2:
    det = jacobian[:, 0, 0] * jacobian[:, 1, 1] - jacobian[:, 0, 1] * jacobian[:, 1, 0]
    log_abs_det = 0.5 * tf.math.log(tf.square(det) + 1e-12)
  else:
    # sum log|R_ii| of J = QR (slogdet has no XLA kernel).
    r_diag = tf.linalg.diag_part(tf.linalg.qr(jacobian)[1])
    log_abs_det = tf.reduce_sum(0.5 * tf.math.log(tf.square(r_diag) + 1e-12), axis=-1)
  # The 1e-12 keeps it finite where a ReLU generator's Jacobian is singular.
  return tf.reduce_mean(log_abs_det)
