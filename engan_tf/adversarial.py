"""What EnGAN and its WGAN-GP baseline share: an energy (critic) trained against a generator.

One call of `train_step` is one generator update:

  every optimizer's rate <- base rate * decay(generator step)   (--lr_decay_start, if set)
  for each of n_critic real minibatches x[:, i]:
      z ~ N(0, I);  z <- negative_latents(z)            (EnGAN: latent MCMC, if set)
      x~ = negative_samples(G(z))                       (EnGAN: data-space MCMC, if set)
      loss, values = critic_loss(x[:, i], x~);  theta <- optimizer(loss)
  values = generator_update(noise, batch, scale)       (the subclass's generator objective)
  the average of E's weights <- this step's E             (--ema_decay, if set)

A subclass states its two objectives (`critic_loss`, `generator_update`) and the metric
names they report; the loop, the replica scaling, the metrics, the random stream, the
learning-rate decay (engan_tf.schedules) and the optional average of the energy's weights
are here.

Each element of the training data is `[batch, n_critic, *data_shape]` (see
`engan_tf.data`), or a dict with that under "x" and, optionally, the noise fed in as data
("z_critic" [batch, n_critic, latent], "z" [batch, latent], "z_marginal" [batch, latent]):
with it a step is a deterministic function of its input, which is how the distributed
tests compare replicas.
"""

import keras
import tensorflow as tf

from engan_tf import averaging


class AdversarialEnergyModel(keras.Model):
  """An energy E (low on data) and a generator G, trained adversarially; see the module."""

  critic_metrics = ()  # names of the values critic_loss reports
  generator_metrics = ()  # names of the values generator_update reports

  def __init__(self, energy, generator, latent_dim, n_critic=5, lambda_penalty=0.1, seed=0,
               ema_decay=0.0, extra_metrics=(), **kwargs):
    super().__init__(**kwargs)
    if n_critic < 1:
      raise ValueError(f"n_critic must be >= 1, got {n_critic}")
    self.energy = energy
    self.generator = generator
    self.latent_dim = int(latent_dim)
    self.n_critic = int(n_critic)
    self.lambda_penalty = float(lambda_penalty)
    # Created here, under the caller's strategy scope: each replica then draws its own
    # stream, and the state is checkpointed so a resumed run continues the stream.
    self.rng = tf.random.Generator.from_seed(seed)
    names = self.critic_metrics + self.generator_metrics + tuple(extra_metrics)
    self._trackers = {name: keras.metrics.Mean(name=name) for name in names}
    # ema_decay > 0: an average of E's weights, evaluated, checkpointed and exported
    # (engan_tf.averaging); the train step updates it after each generator update.
    self.weight_average = (averaging.WeightAverage(energy, generator, self.latent_dim, ema_decay)
                           if ema_decay else None)
    # The networks arrive built; marking the wrapper built keeps Keras from tracing
    # `call` on a training batch (whose shape is not G's input) to build it.
    self.built = True

  def compile(self, e_optimizer, g_optimizer, **kwargs):
    # The generator's optimizer is the model's `optimizer`: its `iterations` counts
    # generator updates, the unit of --train_steps.
    super().compile(optimizer=g_optimizer, **kwargs)
    self.e_optimizer = e_optimizer
    self.g_optimizer = g_optimizer
    self.base_learning_rates = None  # set_learning_rates
    self.learning_rate_decay = None

  def set_learning_rates(self, base_rates, decay=None):
    """Each optimizer's base rate (in optimizers_and_variables' order) and the decay
    (engan_tf.schedules.LearningRateDecay, or None: constant) applied to them all by
    generator step. Sets the rates of the current step now; the train step sets them
    before every update (call before the train step is traced, i.e. before fit)."""
    optimizers = [optimizer for optimizer, _ in self.optimizers_and_variables()]
    if len(base_rates) != len(optimizers):
      raise ValueError(f"{len(optimizers)} optimizers, {len(base_rates)} base rates")
    self.base_learning_rates = [float(rate) for rate in base_rates]
    self.learning_rate_decay = decay
    factor = 1.0 if decay is None else decay.factor_at(self.step)
    for optimizer, rate in zip(optimizers, self.base_learning_rates):
      optimizer.learning_rate.assign(rate * factor)

  def apply_learning_rate_decay(self):
    """Sets every optimizer's rate for the coming generator step (inside the train step)."""
    if self.learning_rate_decay is None:
      return
    factor = self.learning_rate_decay(self.g_optimizer.iterations)
    for (optimizer, _), rate in zip(self.optimizers_and_variables(), self.base_learning_rates):
      optimizer.learning_rate.assign(rate * factor)

  def optimizers_and_variables(self):
    """[(optimizer, variables it updates)] for every optimizer of the model."""
    return [(self.e_optimizer, self.energy.trainable_variables),
            (self.g_optimizer, self.generator.trainable_variables)]

  def build_optimizers(self):
    """Creates every optimizer slot now (call inside the strategy scope, before fit)."""
    for optimizer, variables in self.optimizers_and_variables():
      optimizer.build(variables)

  def networks(self):
    """{name: network} of every trained network (what checkpoints and guards cover)."""
    return {"energy": self.energy, "generator": self.generator}

  @property
  def for_inference(self):
    """What evaluation and export use: the weight average (if any) or the model itself."""
    return self.weight_average or self

  @property
  def step(self):
    """Generator updates so far (the unit of --train_steps)."""
    return int(self.g_optimizer.iterations.numpy())

  @property
  def metrics(self):
    return list(self._trackers.values())

  def call(self, z, training=False):
    return self.generator(z, training=training)

  def sample_latent(self, batch_size):
    return self.rng.normal([batch_size, self.latent_dim])

  def negative_latents(self, z):
    """The latents of the energy's negative samples (the prior's draw by default)."""
    return z

  def negative_samples(self, x):
    """The energy's negative samples from G's samples x (x itself by default)."""
    return x

  def train_step(self, data):
    if isinstance(data, dict):
      x_real, noise = data["x"], data
    else:
      x_real, noise = data, {}
    batch = tf.shape(x_real)[0]
    # Keras sums the replicas' gradients: scale each replica's mean loss by 1/replicas.
    scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync

    # --lr_decay_start: the rates of this generator step (before any of its updates).
    self.apply_learning_rate_decay()
    # n_critic energy updates, unrolled at trace time (no Python runs per step).
    for i in range(self.n_critic):
      z = noise["z_critic"][:, i] if "z_critic" in noise else self.sample_latent(batch)
      x_fake = tf.stop_gradient(self.negative_samples(
          self.generator(self.negative_latents(z), training=True)))
      with tf.GradientTape() as tape:
        e_loss, values = self.critic_loss(x_real[:, i], x_fake)
        scaled_loss = e_loss * scale
      grads = tape.gradient(scaled_loss, self.energy.trainable_variables)
      self.e_optimizer.apply_gradients(zip(grads, self.energy.trainable_variables))
      self.update_metrics(values)

    self.update_metrics(self.generator_update(noise, batch, scale))
    if self.weight_average is not None:  # every iterate, whatever steps_per_execution is
      self.weight_average.update(self.g_optimizer.iterations)
    results = {name: tracker.result() for name, tracker in self._trackers.items()}
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
      # Keras reduces multi-worker step outputs with strategy.reduce(MEAN, axis=0), which
      # needs an axis to reduce: give each replica's scalar one.
      results = {name: tf.reshape(value, [1]) for name, value in results.items()}
    return results

  def update_metrics(self, values):
    for name, value in values.items():
      self._trackers[name].update_state(value)

  def critic_loss(self, x_real, x_fake):
    """(loss, {metric: value}) of one energy update (called inside the tape)."""
    raise NotImplementedError

  def generator_update(self, noise, batch, scale):
    """Applies one generator update; returns {metric: value}."""
    raise NotImplementedError
