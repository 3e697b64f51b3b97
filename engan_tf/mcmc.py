"""Metropolis-adjusted Langevin (MALA) in latent space on E(G(z)), and in data space on E(x).

The paper (Section 4) proposes, for the latent energy U(z) = E(G(z)) / temperature,

    z' = z - alpha * grad U(z) + sqrt(2 alpha) * eps,      eps ~ N(0, I)

and accepts with the Metropolis-Hastings rule. `tfp.mcmc.MetropolisAdjustedLangevinAlgorithm`
implements the same chain with target log p = -U and proposal
`z + step_size / 2 * grad log p(z) + sqrt(step_size) * eps`, so `step_size = 2 * alpha`
(`tfp_step_size`, the one place this conversion happens). The accept/reject is tfp's.

Example:
  >>> result = latent_mala(model.energy, model.generator, tf.random.normal([1000, 2]),
  ...                      num_steps=100, step_size=0.01)
  >>> result.x, result.acceptance_rate            # G(z_T) and per-chain acceptance
"""

import collections

import tensorflow as tf
import tensorflow_probability as tfp

MalaResult = collections.namedtuple("MalaResult", ["z", "x", "acceptance_rate"])
PRIORS = ("none", "gaussian")


def tfp_step_size(alpha):
  """The paper's Langevin step alpha -> tfp's MALA `step_size` (= 2 alpha)."""
  return 2.0 * alpha


def latent_energy(energy_fn, generator_fn, temperature=1.0, prior="none"):
  """U(z) = E(G(z)) / temperature [+ |z|^2 / 2 with prior="gaussian"], per chain."""
  if prior not in PRIORS:
    raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")

  def energy(z):
    u = energy_fn(generator_fn(z, training=False), training=False) / temperature
    if prior == "gaussian":
      u += 0.5 * tf.reduce_sum(tf.square(z), axis=-1)
    return u

  return energy


def run_mala(energy, state, num_steps, step_size, seed=None):
  """Runs `num_steps` of tfp's MALA on target exp(-energy(state)), one chain per row.

  `step_size` is in the paper's units (alpha). Returns (final state, per-chain acceptance
  rate). `num_steps` may be a tensor (it is a loop bound, so nothing is retraced).
  """
  kernel = tfp.mcmc.MetropolisAdjustedLangevinAlgorithm(
      target_log_prob_fn=lambda s: -energy(s),
      step_size=tfp_step_size(tf.cast(step_size, state.dtype)))
  if seed is None:
    seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
  num_steps = tf.cast(num_steps, tf.int32)
  results = kernel.bootstrap_results(state)
  accepted = tf.zeros(tf.shape(state)[:1], state.dtype)

  def body(i, state, results, accepted):
    state, results = kernel.one_step(state, results,
                                     seed=tf.random.experimental.stateless_fold_in(seed, i))
    return i + 1, state, results, accepted + tf.cast(results.is_accepted, state.dtype)

  _, state, _, accepted = tf.while_loop(lambda i, *_: i < num_steps, body,
                                        (tf.constant(0), state, results, accepted))
  rate = accepted / tf.maximum(tf.cast(num_steps, state.dtype), 1.0)
  return tf.stop_gradient(state), tf.stop_gradient(rate)


def latent_mala(energy_fn, generator_fn, z, num_steps, step_size, temperature=1.0,
                prior="none", seed=None):
  """MALA on U(z) = E(G(z)) / temperature from initial latents `z` [chains, latent_dim]."""
  energy = latent_energy(energy_fn, generator_fn, temperature, prior)
  z, rate = run_mala(energy, tf.convert_to_tensor(z, tf.float32), num_steps, step_size, seed)
  return MalaResult(z, generator_fn(z, training=False), rate)


def data_mala(energy_fn, x, num_steps, step_size, temperature=1.0, seed=None):
  """MALA directly in data space on U(x) = E(x) / temperature (paper Appendix 7.1)."""
  energy = lambda s: energy_fn(s, training=False) / temperature
  x, rate = run_mala(energy, tf.convert_to_tensor(x, tf.float32), num_steps, step_size, seed)
  return MalaResult(None, x, rate)


class LatentMALA:
  """The n_mcmc hook of Algorithm 1: `sampler(energy, generator, z) -> (z, acceptance)`."""

  def __init__(self, num_steps, step_size, temperature=1.0, prior="none"):
    self.num_steps, self.step_size = int(num_steps), float(step_size)
    self.temperature, self.prior = float(temperature), prior

  def __call__(self, energy_fn, generator_fn, z):
    energy = latent_energy(energy_fn, generator_fn, self.temperature, self.prior)
    return run_mala(energy, z, self.num_steps, self.step_size)
