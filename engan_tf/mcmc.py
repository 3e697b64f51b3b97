"""Metropolis-adjusted Langevin (MALA) in latent space on E(G(z)), and in data space on E(x).

The paper (Section 4) proposes, for the latent energy

    U(z) = E(G(z)) / temperature  [+ |z|^2 / 2  with prior="gaussian"],

the Langevin move

    z' = z - alpha * grad U(z) + sqrt(2 alpha) * eps,      eps ~ N(0, I),

i.e. a Gaussian proposal q(z'|z) = N(z - alpha grad U(z), 2 alpha I), accepted with
probability min(1, exp(U(z) - U(z')) q(z|z') / q(z'|z)). The chain leaves
p(z) ∝ exp(-U(z)) invariant, so G(z_T) samples the generator's push-forward of it.
`tfp.mcmc.MetropolisAdjustedLangevinAlgorithm` is the same chain with target log p = -U
and proposal `z + step_size / 2 * grad log p(z) + sqrt(step_size) * eps`, so
`step_size = 2 * alpha` (`tfp_step_size`, the one place this conversion happens). The
accept/reject is tfp's. Step sizes in this module's API are always the paper's alpha.

`prior`: "none" is the paper's U = E(G(z)); "gaussian" multiplies the target by the latent
prior N(0, I), p(z) ∝ exp(-E(G(z))/T) N(z; 0, I), so chains cannot drift to latents far
from where G was trained. Data space (`data_mala`, paper Appendix 7.1) runs the same
kernel on U(x) = E(x) / temperature.

`latent_mala` and `data_mala` run all chains (one per row) for `num_steps` steps inside
one `tf.function` (a `tf.while_loop`; `num_steps` is a tensor loop bound, so changing it
does not retrace, and the functions can be called inside a SavedModel signature).
`adapt_step_size` runs a burn-in with tfp's `DualAveragingStepSizeAdaptation` towards a
target acceptance rate (0.574 is optimal for MALA, Roberts & Rosenthal 1998) and returns
the adapted alpha, which sampling then keeps fixed (adapting forever would break
detailed balance).

Example, with E(x) = ||x||^2 / 2 and G = identity (p(z) = N(0, I), E ||G(z)||^2 = 2):
  >>> E, G = lambda x, training=False: 0.5 * tf.reduce_sum(x * x, -1), lambda z, training=False: z
  >>> z0 = tf.random.stateless_normal([1000, 2], seed=[0, 0])
  >>> burn = adapt_step_size(E, z0, num_steps=100, step_size=0.01, generator_fn=G, seed=0)
  >>> result = latent_mala(E, G, burn.state, num_steps=100, step_size=burn.step_size, seed=0)
  >>> result.x.shape, result.acceptance_rate.shape   # G(z_T) and per-chain acceptance
  (TensorShape([1000, 2]), TensorShape([1000]))
  >>> mean_sq_norm = tf.reduce_mean(tf.reduce_sum(tf.square(result.x), axis=-1))
  >>> bool(0.4 < tf.reduce_mean(result.acceptance_rate) < 0.8), bool(abs(mean_sq_norm - 2) < 0.3)
  (True, True)
"""

import collections

import tensorflow as tf
import tensorflow_probability as tfp

MalaResult = collections.namedtuple("MalaResult", ["z", "x", "acceptance_rate"])
AdaptationResult = collections.namedtuple("AdaptationResult",
                                          ["state", "step_size", "acceptance_rate"])
PRIORS = ("none", "gaussian")
TARGET_ACCEPT_PROB = 0.574  # optimal asymptotic MALA acceptance (Roberts & Rosenthal 1998)


def tfp_step_size(alpha):
  """The paper's Langevin step alpha -> tfp's MALA `step_size` (= 2 alpha)."""
  return 2.0 * alpha


def paper_step_size(step_size):
  """tfp's MALA `step_size` -> the paper's alpha (inverse of `tfp_step_size`)."""
  return 0.5 * step_size


def _check_prior(prior):
  if prior not in PRIORS:
    raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")


def latent_energy(energy_fn, generator_fn, temperature=1.0, prior="none"):
  """U(z) = E(G(z)) / temperature [+ |z|^2 / 2 with prior="gaussian"], per chain."""
  _check_prior(prior)

  def energy(z):
    u = energy_fn(generator_fn(z, training=False), training=False) / temperature
    if prior == "gaussian":
      u += 0.5 * tf.reduce_sum(tf.square(z), axis=-1)
    return u

  return energy


def data_energy(energy_fn, temperature=1.0):
  """U(x) = E(x) / temperature, per chain."""
  return lambda x: energy_fn(x, training=False) / temperature


def mala_kernel(energy, step_size):
  """tfp's MALA kernel on target exp(-energy) with the paper's step `step_size` (alpha)."""
  return tfp.mcmc.MetropolisAdjustedLangevinAlgorithm(
      target_log_prob_fn=lambda s: -energy(s), step_size=tfp_step_size(step_size))


def _seed_or_random(seed):
  """A stateless seed [2]; None draws one inside the graph (no Python-side randomness)."""
  if seed is None:
    return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
  return seed


def run_prior_jumps(latent_energy_fn, state, num_steps, seed=None):
  """Independence Metropolis-Hastings on p(z) ∝ N(z; 0, I) exp(-U(z)), proposals from N(0, I).

  With q(z') = N(z'; 0, I) independent of z, the MH ratio p(z') q(z) / (p(z) q(z')) is
  exp(U(z) - U(z')): the prior cancels. A chain can jump to any latent in one step, so
  chains move between E's wells in proportion to exp(-E), which local Langevin steps on
  E(G(z)) cannot do across the barriers between them. `latent_energy_fn` is
  U(z) = E(G(z)) / T without the prior term (`latent_energy(..., prior="none")`).

  Because the proposals do not depend on the state, all `num_steps` of them are drawn and
  their energies evaluated first, in one batch of num_steps x chains (one large forward
  pass, instead of `num_steps` small ones one after another); only the accept/reject
  decisions run in sequence, on scalars per chain. This is the same Markov chain.

  Returns (final state, per-chain acceptance rate), both without gradient.
  """
  seed = _seed_or_random(seed)
  proposal_seed, accept_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  num_steps = tf.cast(num_steps, tf.int32)
  chains, dim = tf.shape(state)[0], tf.shape(state)[1]
  proposals = tf.random.stateless_normal([num_steps, chains, dim], seed=proposal_seed,
                                         dtype=state.dtype)
  proposal_energy = tf.reshape(latent_energy_fn(tf.reshape(proposals, [-1, dim])),
                               [num_steps, chains])
  log_uniform = tf.math.log(tf.random.stateless_uniform([num_steps, chains], seed=accept_seed,
                                                        dtype=state.dtype))

  def decide(carry, step):
    z, energy, accepted = carry
    proposal, new_energy, log_u = step
    accept = log_u < energy - new_energy
    return (tf.where(accept[:, None], proposal, z), tf.where(accept, new_energy, energy),
            accepted + tf.cast(accept, state.dtype))

  state, _, accepted = tf.foldl(
      decide, (proposals, proposal_energy, log_uniform),
      initializer=(state, latent_energy_fn(state), tf.zeros([chains], state.dtype)))
  rate = accepted / tf.maximum(tf.cast(num_steps, state.dtype), 1.0)
  return tf.stop_gradient(state), tf.stop_gradient(rate)


def _run_mala(energy, state, num_steps, step_size, seed):
  return _run_kernel(mala_kernel(energy, tf.cast(step_size, state.dtype)), state, num_steps,
                     seed)


def _run_kernel(kernel, state, num_steps, seed):
  seed = _seed_or_random(seed)
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


def run_mala(energy, state, num_steps, step_size, seed=None):
  """Runs `num_steps` of tfp's MALA on target exp(-energy(state)), one chain per row.

  Args:
    energy: per-chain energy U, [chains, ...] -> [chains].
    state: initial states [chains, ...].
    num_steps: int or scalar int tensor (a loop bound: changing it does not retrace).
    step_size: the paper's alpha (scalar, or broadcastable to `state` for per-chain steps).
    seed: stateless seed, int32 [2]; None draws one inside the graph.

  Returns:
    (final state, per-chain acceptance rate = accepted proposals / num_steps).

  Inside a tf.function (the training step, a SavedModel) this builds the loop in that
  graph; called eagerly it wraps itself in a one-off tf.function, so all steps still run
  as one graph (use `latent_mala` / `data_mala` for repeated calls: they trace once).
  """
  return _in_one_graph(_run_mala, energy, tf.convert_to_tensor(state, tf.float32), num_steps,
                       step_size, seed)


def _in_one_graph(run_chains, *args):
  """run_chains(*args) in the caller's graph, or eagerly as one one-off tf.function."""
  if tf.executing_eagerly():
    return tf.function(run_chains)(*args)
  return run_chains(*args)


def _energy(energy_fn, generator_fn, temperature, prior):
  if generator_fn is None:
    return data_energy(energy_fn, temperature)
  return latent_energy(energy_fn, generator_fn, temperature, prior)


# The networks are arguments (not closed over), so the trace is cached per model.
@tf.function
def _mala_graph(energy_fn, generator_fn, state, num_steps, step_size, temperature, prior,
                seed):
  energy = _energy(energy_fn, generator_fn, temperature, prior)
  return _run_mala(energy, state, num_steps, step_size, seed)


def _as_seed(seed):
  if seed is None or isinstance(seed, tf.Tensor):
    return seed
  if isinstance(seed, int):
    return tf.constant([seed, 0], tf.int32)
  return tf.convert_to_tensor(seed, tf.int32)


def _args(state, num_steps, step_size, temperature, seed):
  return (tf.convert_to_tensor(state, tf.float32), tf.convert_to_tensor(num_steps, tf.int32),
          tf.convert_to_tensor(step_size, tf.float32),
          tf.convert_to_tensor(temperature, tf.float32), _as_seed(seed))


def latent_mala(energy_fn, generator_fn, z, num_steps, step_size, temperature=1.0,
                prior="none", seed=None):
  """MALA on U(z) = E(G(z)) / temperature [+ |z|^2/2] from initial latents z [chains, d].

  Args:
    energy_fn, generator_fn: E and G (Keras models, or callables taking `training=`).
    z: initial latents, one chain per row (typically z ~ N(0, I), i.e. G's samples).
    num_steps: MALA steps (int or scalar int tensor).
    step_size: the paper's alpha.
    temperature: divides E; > 1 flattens the target.
    prior: "none" (paper) or "gaussian" (adds |z|^2 / 2, the N(0, I) latent prior).
    seed: int, int32 [2] stateless seed, or None (drawn inside the graph).

  Returns:
    MalaResult(z=z_T, x=G(z_T), acceptance_rate=[chains]).
  """
  _check_prior(prior)
  z, num_steps, step_size, temperature, seed = _args(z, num_steps, step_size, temperature, seed)
  z, rate = _mala_graph(energy_fn, generator_fn, z, num_steps, step_size, temperature, prior,
                        seed)
  return MalaResult(z, generator_fn(z, training=False), rate)


def data_mala(energy_fn, x, num_steps, step_size, temperature=1.0, seed=None):
  """MALA directly in data space on U(x) = E(x) / temperature (paper Appendix 7.1).

  Same arguments as `latent_mala` with the chains' initial data points `x` (typically
  G(z), as in the paper). Returns MalaResult(z=None, x=x_T, acceptance_rate).
  """
  x, num_steps, step_size, temperature, seed = _args(x, num_steps, step_size, temperature, seed)
  x, rate = _mala_graph(energy_fn, None, x, num_steps, step_size, temperature, "none", seed)
  return MalaResult(None, x, rate)


_StepSizeResults = collections.namedtuple("_StepSizeResults", ["inner_results", "step_size"])


class _MalaWithStepSizeInResults(tfp.mcmc.TransitionKernel):
  """tfp's MALA with its (tfp-unit) step size kept in the kernel results.

  tfp's step-size adaptation kernels read and write `step_size` in the kernel results,
  where MALA does not keep it; this wrapper rebuilds the MALA kernel each step from it.
  tfp's Langevin results cache the current state's drift, step_size / 2 * grad log p,
  computed with the step size of the step that produced them; after the adaptation changes
  the step size the stale drift would set the proposal's mean while the proposal's noise and
  the acceptance correction use the new one: not a MALA step, rejected every time once the
  step size has dropped (the drift of a large step moves the proposal far beyond its small
  noise), so the adaptation shrank alpha forever (to 1e-37 from alpha = 1 on a Gaussian;
  BUILD_NOTES twenty-first session). The drift is recomputed from the cached gradient.
  """

  def __init__(self, target_log_prob_fn, step_size):
    self._target_log_prob_fn = target_log_prob_fn
    self._step_size = step_size
    self._parameters = dict(target_log_prob_fn=target_log_prob_fn, step_size=step_size)

  def _mala(self, step_size):
    return tfp.mcmc.MetropolisAdjustedLangevinAlgorithm(self._target_log_prob_fn, step_size)

  @property
  def is_calibrated(self):
    return True

  def one_step(self, current_state, previous_kernel_results, seed=None):
    step_size = previous_kernel_results.step_size
    mh = previous_kernel_results.inner_results  # MetropolisHastingsKernelResults
    langevin = mh.accepted_results
    parts = lambda x: list(x) if isinstance(x, (list, tuple)) else [x]
    # tfp's drift (langevin._get_drift) at this step size, from the cached gradient.
    drift = [0.5 * step_size * (tf.square(v) * g + gv) for v, g, gv in zip(
        parts(langevin.volatility), parts(langevin.grads_target_log_prob),
        parts(langevin.grads_volatility))]
    cached = langevin.diffusion_drift
    fresh = mh._replace(accepted_results=langevin._replace(
        diffusion_drift=drift if isinstance(cached, (list, tuple)) else drift[0]))
    state, inner = self._mala(step_size).one_step(current_state, fresh, seed=seed)
    return state, previous_kernel_results._replace(inner_results=inner)

  def bootstrap_results(self, init_state):
    step_size = tf.convert_to_tensor(self._step_size, init_state.dtype)
    return _StepSizeResults(self._mala(step_size).bootstrap_results(init_state), step_size)


@tf.function
def _adapt_graph(energy_fn, generator_fn, state, num_steps, step_size, temperature, prior,
                 seed, target_accept_prob):
  energy = _energy(energy_fn, generator_fn, temperature, prior)
  kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
      _MalaWithStepSizeInResults(lambda s: -energy(s), tfp_step_size(step_size)),
      num_adaptation_steps=num_steps, target_accept_prob=target_accept_prob)
  seed = _seed_or_random(seed)
  results = kernel.bootstrap_results(state)
  accepted = tf.zeros(tf.shape(state)[:1], state.dtype)

  def body(i, state, results, accepted):
    state, results = kernel.one_step(state, results,
                                     seed=tf.random.experimental.stateless_fold_in(seed, i))
    is_accepted = results.inner_results.inner_results.is_accepted
    return i + 1, state, results, accepted + tf.cast(is_accepted, state.dtype)

  _, state, results, accepted = tf.while_loop(lambda i, *_: i < num_steps, body,
                                              (tf.constant(0), state, results, accepted))
  # Dual averaging's final answer is the averaged iterate, not the last exploratory step.
  adapted = tf.reshape(tf.exp(results.log_averaging_step), [])
  adapted = tf.where(num_steps > 0, adapted, tfp_step_size(step_size))
  rate = accepted / tf.maximum(tf.cast(num_steps, state.dtype), 1.0)
  return state, paper_step_size(adapted), rate


def adapt_step_size(energy_fn, state, num_steps, step_size, generator_fn=None,
                    temperature=1.0, prior="none", target_accept_prob=TARGET_ACCEPT_PROB,
                    seed=None):
  """Burn-in that tunes alpha towards `target_accept_prob` (tfp dual averaging).

  Runs `num_steps` MALA steps from `state` (latents if `generator_fn` is given, else data
  points) while `tfp.mcmc.DualAveragingStepSizeAdaptation` adapts one step size shared by
  all chains (log-mean-exp of their acceptance probabilities), starting from alpha =
  `step_size`. Use the returned step size, fixed, for the sampling run that follows.

  Returns:
    AdaptationResult(state=the chains after burn-in, step_size=adapted alpha (scalar),
    acceptance_rate=per-chain acceptance during burn-in).
  """
  _check_prior(prior)
  if not 0.0 < target_accept_prob < 1.0:
    raise ValueError(f"target_accept_prob must be in (0, 1), got {target_accept_prob}")
  state, num_steps, step_size, temperature, seed = _args(state, num_steps, step_size,
                                                         temperature, seed)
  if step_size.shape.rank != 0:
    raise ValueError(f"adapt_step_size tunes one scalar step size, got shape {step_size.shape}")
  return AdaptationResult(*_adapt_graph(energy_fn, generator_fn, state, num_steps, step_size,
                                        temperature, prior, seed,
                                        tf.constant(target_accept_prob, tf.float32)))


class LatentMALA:
  """The n_mcmc hook of Algorithm 1: `sampler(energy, generator, z) -> (z, acceptance)`."""

  def __init__(self, num_steps, step_size, temperature=1.0, prior="none"):
    _check_prior(prior)
    self.num_steps, self.step_size = int(num_steps), float(step_size)
    self.temperature, self.prior = float(temperature), prior

  def __call__(self, energy_fn, generator_fn, z, seed=None):
    """seed: int32 [2] stateless seed (training passes one from the run's generator)."""
    energy = latent_energy(energy_fn, generator_fn, self.temperature, self.prior)
    return run_mala(energy, z, self.num_steps, self.step_size, seed)


class LatentPriorJumps:
  """Independence MH jumps from the prior before latent MALA (`run_prior_jumps`).

  `sampler(energy, generator, z) -> (z, acceptance)`: chains end distributed as
  N(z) exp(-E(G(z)) / T), the paper's latent target with its Gaussian prior, whichever
  well of E they started in.

    >>> E = lambda x, training=False: 0.5 * tf.reduce_sum(tf.square(x - 3.0), -1)
    >>> G = lambda z, training=False: z
    >>> z0 = tf.fill([4000, 1], -3.0)   # every chain far from the target's mass
    >>> z, rate = LatentPriorJumps(num_steps=50)(E, G, z0, seed=tf.constant([0, 1]))
    >>> mean = float(tf.reduce_mean(z))   # N(0, 1) N(3, 1) ∝ N(1.5, 0.5)
    >>> bool(abs(mean - 1.5) < 0.1), bool(0.05 < float(tf.reduce_mean(rate)) < 0.5)
    (True, True)
  """

  def __init__(self, num_steps, temperature=1.0):
    self.num_steps, self.temperature = int(num_steps), float(temperature)

  def __call__(self, energy_fn, generator_fn, z, seed=None):
    """seed: int32 [2] stateless seed (training passes one from the run's generator)."""
    energy = latent_energy(energy_fn, generator_fn, self.temperature)
    return _in_one_graph(run_prior_jumps, energy, tf.convert_to_tensor(z, tf.float32),
                         self.num_steps, seed)


class DataMALA:
  """Data-space MALA on E(x) from given points: `sampler(energy, x) -> (x, acceptance)`.

  Algorithm 1's negatives are G(z) (after latent MALA, if set), so the energy is only ever
  pushed up where G puts samples. Moving them by MALA on E in data space makes the negative
  phase see exp(-E) itself there, including where G does not reach.
  """

  def __init__(self, num_steps, step_size):
    self.num_steps, self.step_size = int(num_steps), float(step_size)

  def __call__(self, energy_fn, x, seed=None):
    """seed: int32 [2] stateless seed (training passes one from the run's generator)."""
    return run_mala(data_energy(energy_fn), x, self.num_steps, self.step_size, seed)
