"""Algorithm 1 of the EnGAN paper as a `keras.Model` with a custom `train_step`.

One call of `train_step` is one generator update:

  for each of n_critic real minibatches x:                       # energy updates
      z ~ N(0, I);  z <- latent MCMC(z) if a latent sampler is set
      L_E = mean E(x) - mean E(G(z)) + lambda * mean ||grad_x E(x)||^2;   theta <- Adam(L_E)
  z ~ N(0, I);  z' = per-dimension shuffle of z                   # generator + statistics
  L_H = mean softplus(-T(G(z), z)) + mean softplus(T(G(z), z'))    # = -I_JSD (eq. 5-6)
  L_G = mean E(G(z)) + L_H;   omega <- Adam(L_G);   phi <- Adam(L_H)

Each element of the training data is `[batch, n_critic, *data_shape]` (see
`engan_tf.data`), or a dict with that under "x" and, optionally, the noise fed in as
data ("z_critic" [batch, n_critic, latent], "z" [batch, latent], "z_marginal"
[batch, latent]): with it a step is a deterministic function of its input, which is
how the distributed tests compare replicas.

Example:
  >>> nets = build_networks("mlp512", (2,), latent_dim=2)
  >>> model = EnGAN(*nets, latent_dim=2)
  >>> model.compile(*[keras.optimizers.Adam(1e-4, 0.5, 0.9) for _ in range(3)])
  >>> model.fit(source.train_dataset(256, 5, 0), steps_per_epoch=100, epochs=1)
"""

import keras
import tensorflow as tf

from engan_tf import losses
from engan_tf import mi

_CRITIC_METRICS = ("e_real", "e_fake", "score_penalty", "e_loss")
_GENERATOR_METRICS = ("l_h", "mi_jsd", "g_loss", "e_gen")
ENTROPY_TERMS = ("jsd_mi", "logdet")


class EnGAN(keras.Model):
  """Energy E, generator G and statistics network T trained by Algorithm 1."""

  def __init__(self, energy, generator, statistics, latent_dim, n_critic=5,
               lambda_penalty=0.1, shuffle="per_dimension", latent_sampler=None, seed=0,
               mi_noise_std=0.0, entropy="jsd_mi", entropy_weight=1.0, **kwargs):
    super().__init__(**kwargs)
    if n_critic < 1:
      raise ValueError(f"n_critic must be >= 1, got {n_critic}")
    if shuffle not in mi.SHUFFLES:
      raise ValueError(f"shuffle must be one of {sorted(mi.SHUFFLES)}, got {shuffle!r}")
    self.energy = energy
    self.generator = generator
    self.statistics = statistics
    self.latent_dim = int(latent_dim)
    self.n_critic = int(n_critic)
    self.lambda_penalty = float(lambda_penalty)
    self.shuffle = mi.SHUFFLES[shuffle]
    if mi_noise_std < 0:
      raise ValueError(f"mi_noise_std must be >= 0, got {mi_noise_std}")
    # > 0: T sees G(z) + N(0, mi_noise_std^2) (see generator_update).
    self.mi_noise_std = float(mi_noise_std)
    if entropy not in ENTROPY_TERMS:
      raise ValueError(f"entropy must be one of {', '.join(ENTROPY_TERMS)}, got {entropy!r}")
    # "jsd_mi": L_H = -I_JSD(G(z); z) with T (the paper). "logdet": L_H = -mean log|det dG/dz|
    # (the exact entropy gain of a square G; a diagnostic, T is not trained).
    self.entropy = entropy
    if not entropy_weight > 0:
      raise ValueError(f"entropy_weight must be > 0, got {entropy_weight}")
    # L_G = mean E(G(z)) + entropy_weight * L_H: G targets exp(-E / entropy_weight) when L_H
    # is the exact negative entropy (1: the paper).
    self.entropy_weight = float(entropy_weight)
    # `latent_sampler(energy, generator, z) -> (z, acceptance_rate)`: the n_mcmc hook of
    # Algorithm 1 (engan_tf.mcmc.LatentMALA); None samples z from the prior only.
    self.latent_sampler = latent_sampler
    # Created here, under the caller's strategy scope: each replica then draws its own
    # stream, and the state is checkpointed so a resumed run continues the stream.
    self.rng = tf.random.Generator.from_seed(seed)
    names = self.metric_names() + (("mcmc_acceptance",) if latent_sampler else ())
    self._trackers = {name: keras.metrics.Mean(name=name) for name in names}
    # The three networks arrive built; marking the wrapper built keeps Keras from tracing
    # `call` on a training batch (whose shape is not G's input) to build it.
    self.built = True

  def metric_names(self):
    """Names of the values `critic_loss` and `generator_update` report."""
    return _CRITIC_METRICS + _GENERATOR_METRICS

  def compile(self, e_optimizer, g_optimizer, t_optimizer, **kwargs):
    # The generator's optimizer is the model's `optimizer`: its `iterations` counts
    # generator updates, the unit of --train_steps.
    super().compile(optimizer=g_optimizer, **kwargs)
    self.e_optimizer = e_optimizer
    self.g_optimizer = g_optimizer
    self.t_optimizer = t_optimizer

  def build_optimizers(self):
    """Creates every optimizer slot now (call inside the strategy scope, before fit)."""
    self.e_optimizer.build(self.energy.trainable_variables)
    self.g_optimizer.build(self.generator.trainable_variables)
    self.t_optimizer.build(self.statistics.trainable_variables)

  @property
  def metrics(self):
    return list(self._trackers.values())

  def call(self, z, training=False):
    return self.generator(z, training=training)

  def sample_latent(self, batch_size):
    return self.rng.normal([batch_size, self.latent_dim])

  def _negative_latents(self, z):
    if self.latent_sampler is None:
      return z
    z, acceptance = self.latent_sampler(self.energy, self.generator, z)
    self._trackers["mcmc_acceptance"].update_state(acceptance)
    return tf.stop_gradient(z)

  def train_step(self, data):
    if isinstance(data, dict):
      x_real, noise = data["x"], data
    else:
      x_real, noise = data, {}
    batch = tf.shape(x_real)[0]
    # Keras sums the replicas' gradients: scale each replica's mean loss by 1/replicas.
    scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync

    # n_critic energy updates, unrolled at trace time (no Python runs per step).
    for i in range(self.n_critic):
      z = noise["z_critic"][:, i] if "z_critic" in noise else self.sample_latent(batch)
      x_fake = tf.stop_gradient(self.generator(self._negative_latents(z), training=True))
      with tf.GradientTape() as tape:
        e_loss, values = self.critic_loss(x_real[:, i], x_fake)
        scaled_loss = e_loss * scale
      grads = tape.gradient(scaled_loss, self.energy.trainable_variables)
      self.e_optimizer.apply_gradients(zip(grads, self.energy.trainable_variables))
      self._update_trackers(values)

    self._update_trackers(self.generator_update(noise, batch, scale))
    results = {name: tracker.result() for name, tracker in self._trackers.items()}
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
      # Keras reduces multi-worker step outputs with strategy.reduce(MEAN, axis=0), which
      # needs an axis to reduce: give each replica's scalar one.
      results = {name: tf.reshape(value, [1]) for name, value in results.items()}
    return results

  def _update_trackers(self, values):
    for name, value in values.items():
      self._trackers[name].update_state(value)

  def critic_loss(self, x_real, x_fake):
    """(L_E, {metric: value}) of one energy update (call inside the tape)."""
    e_real, score_norm = losses.energy_and_score_norm(self.energy, x_real, training=True)
    e_fake = self.energy(x_fake, training=True)
    e_loss = losses.energy_loss(e_real, e_fake, score_norm, self.lambda_penalty)
    return e_loss, dict(zip(_CRITIC_METRICS, (e_real, e_fake, score_norm, e_loss)))

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
      return dict(zip(_GENERATOR_METRICS, (l_h, tf.zeros_like(l_h), g_loss, e_gen)))
    t_grads = grads[len(g_vars):]
    if self.entropy_weight != 1.0:  # T minimises L_H itself, whatever G's weight on it
      t_grads = [g / self.entropy_weight for g in t_grads]
    self.t_optimizer.apply_gradients(zip(t_grads, t_vars))
    return dict(zip(_GENERATOR_METRICS, (l_h, -l_h, g_loss, e_gen)))
