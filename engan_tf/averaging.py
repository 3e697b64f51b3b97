"""An exponential moving average of the energy's weights, bias-corrected.

After n generator steps with iterates theta_1..theta_n and decay d,

  theta_avg(n) = sum_{s=1..n} (1 - d) d^(n-s) theta_s / (1 - d^n),

an average of the run's iterates only: the initial (random) weights get no weight, as in
Adam's bias correction. Without the correction (theta_avg starting at the initial weights)
a 1,000-step run at d = 0.999 would export an energy that is 0.999^1000 = 37% its random
initialisation. The recursion it is computed by, after generator step n:

  theta_avg <- c theta_avg + (1 - c) theta_n,   c = d (1 - d^(n-1)) / (1 - d^n)

(c = 0 at step 1, so the average starts at the first trained iterate).

Algorithm 1 trains E and G adversarially, so the energy's last iterate wanders (e.g. a
tilt across the modes that mean E(real) - mean E(fake) does not see when G covers the
modes evenly). The average of the iterates (Polyak averaging; Yazici et al. 2019 for GANs)
is the energy that `--ema_decay > 0` evaluates, checkpoints and exports; training itself is
unchanged. The generator is not averaged: an average of generators that move between
modes draws samples between them (measured on 25gaussians, BUILD_NOTES.md).

The model owns its average (`AdversarialEnergyModel(..., ema_decay=0.999)`) and updates it
at the end of every generator step inside its train step (in the graph), so the average
sees every iterate whatever --steps_per_execution is.

Example, with small networks (the evaluation, of the averaged .energy with the model's
.generator, needs a data set: the doctests do not run it):
  >>> from engan_tf.networks import build_networks
  >>> model = build_networks("mlp512", (2,), latent_dim=2, dim=8)
  >>> average = WeightAverage(model.energy, model.generator, 2, decay=0.999)
  >>> [round(float(average.kept_share(step)), 4) for step in (1, 2)]   # 0, then d / (1 + d)
  [0.0, 0.4997]
  >>> _ = model.energy.weights[0].assign_add(tf.ones_like(model.energy.weights[0]))  # a step
  >>> average.update(step=1)      # after each step (the model's train step does this)
  >>> bool(tf.reduce_all(average.energy.weights[0] == model.energy.weights[0]))   # c = 0
  True
  >>> from engan_tf import evaluation  # doctest: +SKIP
  >>> result = evaluation.evaluate(average, source)  # doctest: +SKIP
"""

import keras
import tensorflow as tf


class WeightAverage:
  """An averaged copy of `energy`; `.generator` is the model's own."""

  def __init__(self, energy, generator, latent_dim, decay):
    if not 0.0 < decay < 1.0:
      raise ValueError(f"--ema_decay must be in (0, 1) to average, got {decay}")
    self.decay = float(decay)
    self.latent_dim = latent_dim
    self.energy = keras.models.clone_model(energy)
    self.generator = generator
    self._averaged = self.energy.weights
    self._current = energy.weights
    self.reset()

  def reset(self):
    """Starts the average at the current weights."""
    for avg, w in zip(self._averaged, self._current):
      avg.assign(w)

  def kept_share(self, step):
    """c of the module docstring: the share of the average kept after generator `step`
    (an int or an integer tensor >= 1); a float32 tensor."""
    d = tf.constant(self.decay, tf.float64)
    n = tf.cast(step, tf.float64)
    return tf.cast(d * (1.0 - d**(n - 1.0)) / (1.0 - d**n), tf.float32)

  def update(self, step):
    """theta_avg <- c theta_avg + (1 - c) theta after generator `step` (call once per step;
    eager or inside a tf.function such as the train step)."""
    kept = self.kept_share(step)
    for avg, w in zip(self._averaged, self._current):
      k = tf.cast(kept, avg.dtype)
      avg.assign(k * avg + (1.0 - k) * w)

  def copy_to(self, model):
    """Overwrites model's E with the average (for inference after restore)."""
    for avg, w in zip(self._averaged, self._current):
      w.assign(avg)
