"""Algorithm 1 of the EnGAN paper as a `keras.Model` with a custom `train_step`.

One call of `train_step` is one generator update:

  for each of n_critic real minibatches x:                       # energy updates
      z ~ N(0, I);  z <- latent MCMC(z) if a latent sampler is set
      x~ = G(z);  x~ <- data-space MCMC(x~) on E if a data sampler is set
      L_E = mean E(x) - mean E(x~) + lambda * mean ||grad_x E(x)||^2;   theta <- Adam(L_E)
  z ~ N(0, I);  z' = per-dimension shuffle of z                   # generator + statistics
  L_H = mean softplus(-T(G(z), z)) + mean softplus(T(G(z), z'))    # = -I_JSD (eq. 5-6)
  L_G = mean E(G(z)) + L_H;   omega <- Adam(L_G);   phi <- Adam(L_H)

The loop, the data format and the weight average are shared with the WGAN-GP baseline
(`engan_tf.adversarial.AdversarialEnergyModel`); EnGAN adds the statistics network, the
entropy term and the latent sampler.

Example (the fit, 100 generator steps on 8gaussians, is not run by the doctests):
  >>> import keras
  >>> from engan_tf.data import load_dataset
  >>> from engan_tf.networks import build_networks
  >>> nets = build_networks("mlp512", (2,), latent_dim=2)
  >>> model = EnGAN(*nets, latent_dim=2)
  >>> model.compile(*[keras.optimizers.Adam(1e-4, 0.5, 0.9) for _ in range(3)])
  >>> model.step   # generator updates so far
  0
  >>> source = load_dataset("8gaussians")
  >>> history = model.fit(source.train_dataset(256, 5, 0), steps_per_epoch=100,  # doctest: +SKIP
  ...                     epochs=1)
"""

import tensorflow as tf

from engan_tf import adversarial
from engan_tf import config as config_lib
from engan_tf import losses
from engan_tf import mi

ENTROPY_TERMS = config_lib.ENTROPY_TERMS


class EnGAN(adversarial.AdversarialEnergyModel):
  """Energy E, generator G and statistics network T trained by Algorithm 1."""

  critic_metrics = ("e_real", "e_fake", "score_penalty", "e_loss")
  generator_metrics = ("l_h", "mi_jsd", "g_loss", "e_gen")

  def __init__(self, energy, generator, statistics, latent_dim, n_critic=5,
               lambda_penalty=0.1, shuffle="per_dimension", latent_sampler=None, seed=0,
               mi_noise_std=0.0, entropy="jsd_mi", entropy_weight=1.0, ema_decay=0.0,
               dsm_weight=0.0, dsm_sigma=0.0, data_sampler=None, latent_jump_sampler=None,
               latent_jumps_from_step=0, **kwargs):
    if shuffle not in mi.SHUFFLES:
      raise ValueError(f"shuffle must be one of {sorted(mi.SHUFFLES)}, got {shuffle!r}")
    if mi_noise_std < 0:
      raise ValueError(f"mi_noise_std must be >= 0, got {mi_noise_std}")
    if dsm_weight < 0 or (dsm_weight > 0 and not dsm_sigma > 0):
      raise ValueError(f"dsm_weight must be >= 0 with dsm_sigma > 0, got {dsm_weight}, "
                       f"{dsm_sigma}")
    if entropy not in ENTROPY_TERMS:
      raise ValueError(f"entropy must be one of {', '.join(ENTROPY_TERMS)}, got {entropy!r}")
    if not entropy_weight > 0:
      raise ValueError(f"entropy_weight must be > 0, got {entropy_weight}")
    super().__init__(energy, generator, latent_dim, n_critic=n_critic,
                     lambda_penalty=lambda_penalty, seed=seed, ema_decay=ema_decay,
                     extra_metrics=(("mcmc_jump_acceptance",) if latent_jump_sampler else ())
                     + (("mcmc_acceptance",) if latent_sampler else ())
                     + (("data_mcmc_acceptance",) if data_sampler else ())
                     + (("dsm",) if dsm_weight else ()), **kwargs)
    self.statistics = statistics
    self.shuffle = mi.SHUFFLES[shuffle]
    # > 0: T sees G(z) + N(0, mi_noise_std^2) (see generator_update).
    self.mi_noise_std = float(mi_noise_std)
    # "jsd_mi": L_H = -I_JSD(G(z); z) with T (the paper). "logdet": L_H = -mean log|det dG/dz|
    # (the exact entropy gain of a square G; a diagnostic, T is not trained).
    self.entropy = entropy
    # L_G = mean E(G(z)) + entropy_weight * L_H: G targets exp(-E / entropy_weight) when L_H
    # is the exact negative entropy (1: the paper).
    self.entropy_weight = float(entropy_weight)
    # `latent_sampler(energy, generator, z) -> (z, acceptance_rate)`: the n_mcmc hook of
    # Algorithm 1 (engan_tf.mcmc.LatentMALA); None samples z from the prior only.
    self.latent_sampler = latent_sampler
    # `latent_jump_sampler(energy, generator, z) -> (z, acceptance_rate)`, run before it:
    # jumps between E's wells (engan_tf.mcmc.LatentPriorJumps); None: no jumps (the paper).
    self.latent_jump_sampler = latent_jump_sampler
    # The generator step from which the jumps run (0: from the first).
    self.latent_jumps_from_step = int(latent_jumps_from_step)
    # `data_sampler(energy, x) -> (x, acceptance_rate)`: MALA on E in data space from the
    # negatives G(z) (engan_tf.mcmc.DataMALA); None keeps G(z) (the paper).
    self.data_sampler = data_sampler
    # > 0: L_E also has dsm_weight * denoising score matching at noise dsm_sigma (losses).
    self.dsm_weight, self.dsm_sigma = float(dsm_weight), float(dsm_sigma)

  def compile(self, e_optimizer, g_optimizer, t_optimizer, **kwargs):
    super().compile(e_optimizer, g_optimizer, **kwargs)
    self.t_optimizer = t_optimizer

  def optimizers_and_variables(self):
    return super().optimizers_and_variables() + [
        (self.t_optimizer, self.statistics.trainable_variables)]

  def networks(self):
    return {**super().networks(), "statistics": self.statistics}

  def _run_chains(self, sampler, acceptance_metric, *args):
    """sampler(*args, seed) -> (state, acceptance); logs the acceptance, returns the state."""
    # The chain's seed comes from the run's random stream: a seeded run is reproducible.
    state, acceptance = sampler(*args, seed=self.rng.uniform_full_int([2], tf.int32))
    self._trackers[acceptance_metric].update_state(acceptance)
    return state  # gradient-free: mcmc's chain runners stop it

  def negative_latents(self, z):
    if self.latent_jump_sampler is not None:
      def jump():
        return self._run_chains(self.latent_jump_sampler, "mcmc_jump_acceptance", self.energy,
                                self.generator, z)
      if self.latent_jumps_from_step:
        z = tf.cond(self.g_optimizer.iterations >= self.latent_jumps_from_step, jump,
                    lambda: tf.identity(z))
      else:
        z = jump()
    if self.latent_sampler is not None:
      z = self._run_chains(self.latent_sampler, "mcmc_acceptance", self.energy,
                           self.generator, z)
    return z

  def negative_samples(self, x):
    if self.data_sampler is None:
      return x
    return self._run_chains(self.data_sampler, "data_mcmc_acceptance", self.energy, x)

  def critic_loss(self, x_real, x_fake):
    """(L_E, {metric: value}) of one energy update (call inside the tape)."""
    if not self.dsm_weight:
      e_real, score_norm = losses.energy_and_score_norm(self.energy, x_real, training=True)
    else:  # the gradients at x and at x + sigma eps in one pass (a batch twice the size)
      eps = self.rng.normal(tf.shape(x_real))
      e_both, grad = losses.energy_and_input_gradient(
          self.energy, tf.concat([x_real, x_real + self.dsm_sigma * eps], 0), training=True)
      n = tf.shape(x_real)[0]
      e_real, score_norm = e_both[:n], losses.squared_norm(grad[:n])
      dsm = tf.reduce_mean(losses.denoising_residual(grad[n:], eps, self.dsm_sigma))
    e_fake = self.energy(x_fake, training=True)
    e_loss = losses.energy_loss(e_real, e_fake, score_norm, self.lambda_penalty)
    if self.dsm_weight:
      e_loss += self.dsm_weight * dsm
    metrics = dict(zip(self.critic_metrics, (e_real, e_fake, score_norm, e_loss)))
    if self.dsm_weight:
      metrics["dsm"] = dsm
    return e_loss, metrics

  def generator_update(self, noise, batch, scale):
    """One joint update of G (on L_G) and T (on L_H); returns {metric: value}."""
    z = noise["z"] if "z" in noise else self.sample_latent(batch)
    z_marginal = noise["z_marginal"] if "z_marginal" in noise else self.shuffle(z, self.rng)
    g_vars = self.generator.trainable_variables
    t_vars = self.statistics.trainable_variables
    with tf.GradientTape() as tape:
      x_fake = self.generator(z, training=True)
      e_gen = self.energy(x_fake, training=True)
      if self.entropy == "logdet":
        l_h = -mi.log_det_entropy_gain(self.generator, z)
      else:
        # For a deterministic G, I(G(z); z) is unbounded and T soon separates joint from
        # shuffled pairs perfectly: the JSD term saturates and G gets no entropy gradient.
        # With noise, I(G(z) + eps; z) = H(G(z) + eps) - H(eps) stays finite and measures
        # how far G spreads its samples at the noise's scale (off by default: the paper).
        x_seen = x_fake
        if self.mi_noise_std:
          x_seen = x_fake + self.mi_noise_std * self.rng.normal(tf.shape(x_fake))
        l_h = mi.jsd_loss(self.statistics([x_seen, z], training=True),
                          self.statistics([x_seen, z_marginal], training=True))
      g_loss = losses.generator_loss(e_gen, self.entropy_weight * l_h)
      scaled_loss = g_loss * scale
    # E(G(z)) does not depend on T, so d L_G / d phi = entropy_weight * d L_H / d phi: one
    # backward pass gives both networks their gradients.
    grads = tape.gradient(scaled_loss, g_vars + t_vars)
    self.g_optimizer.apply_gradients(zip(grads[:len(g_vars)], g_vars))
    if self.entropy == "logdet":
      return dict(zip(self.generator_metrics, (l_h, tf.zeros_like(l_h), g_loss, e_gen)))
    t_grads = grads[len(g_vars):]
    if self.entropy_weight != 1.0:  # T minimises L_H itself, whatever G's weight on it
      t_grads = [g / self.entropy_weight for g in t_grads]
    self.t_optimizer.apply_gradients(zip(t_grads, t_vars))
    return dict(zip(self.generator_metrics, (l_h, -l_h, g_loss, e_gen)))
