"""An exponential moving average of the energy's weights, bias-corrected.

After n generator steps with iterates theta_1..theta_n and decay d,

  theta_avg(n) = sum_{s=1..n} (1 - d) d^(n-s) theta_s / (1 - d^n),

an average of the run's iterates only: the initial (random) weights get no weight, as in
Adam's bias correction. Without the correction (theta_avg starting at the initial weights)
a 1,000-step run at d = 0.999 would export an energy that is 0.999^1000 = 37% its random
initialisation. The recursion it is computed by, over a call of k steps ending at step n
(the iterate is seen once per call, at its end):

  theta_avg <- c theta_avg + (1 - c) theta,   c = d^k (1 - d^(n-k)) / (1 - d^n)

(c = 0 at the first call, so the average starts at the first trained iterate).

Algorithm 1 trains E and G adversarially, so the energy's last iterate wanders (e.g. a
tilt across the modes that mean E(real) - mean E(fake) does not see when G covers the
modes evenly). The average of the iterates (Polyak averaging; Yazici et al. 2019 for GANs)
is the energy that `--ema_decay > 0` evaluates, checkpoints and exports; training itself is
unchanged. The generator is not averaged: an average of generators that move between
modes draws samples between them (measured on 25gaussians, BUILD_NOTES.md).

The model owns its average (`AdversarialEnergyModel(..., ema_decay=0.999)`), and the
`WeightAveraging` callback (engan_tf.callbacks) updates it after every call of the train
step.

Example:
  >>> average = WeightAverage(model.energy, model.generator, model.latent_dim, decay=0.999)
  >>> average.update(step=1)      # after each step (the WeightAveraging callback does this)
  >>> evaluation.evaluate(average, source)   # .energy averaged, .generator the model's
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

  def kept_share(self, step, steps=1):
    """c of the module docstring: the share of the average kept at generator `step`, after
    a call of `steps` generator steps."""
    if step < steps or steps < 1:
      raise ValueError(f"the average is updated after generator step {step} >= {steps} >= 1")
    d = self.decay
    return d**steps * (1.0 - d**(step - steps)) / (1.0 - d**step)

  def update(self, step, steps=1):
    """The average after generator step `step`, `steps` steps after its last update."""
    self._blend(tf.constant(self.kept_share(step, steps), tf.float32))

  @tf.function
  def _blend(self, kept):
    """theta_avg <- kept * theta_avg + (1 - kept) * theta."""
    for avg, w in zip(self._averaged, self._current):
      k = tf.cast(kept, avg.dtype)
      avg.assign(k * avg + (1.0 - k) * w)

  def copy_to(self, model):
    """Overwrites model's E with the average (for inference after restore)."""
    for avg, w in zip(self._averaged, self._current):
      w.assign(avg)
