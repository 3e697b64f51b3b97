"""An exponential moving average of the energy's weights.

  theta_avg <- decay * theta_avg + (1 - decay) * theta        after every generator step

Algorithm 1 trains E and G adversarially, so the energy's last iterate wanders (e.g. a
tilt across the modes that mean E(real) - mean E(fake) does not see when G covers the
modes evenly). The average of the iterates (Polyak averaging; Yazici et al. 2019 for GANs)
is the energy that `--ema_decay > 0` evaluates, checkpoints and exports; training itself is
unchanged. The generator is not averaged: an average of generators that move between
modes draws samples between them (measured on 25gaussians, BUILD_NOTES.md).

Example:
  >>> average = WeightAverage(model, decay=0.999)
  >>> average.update(0.999)      # after each step (the training callback does this)
  >>> evaluation.evaluate(average, source)   # .energy averaged, .generator the model's
"""

import keras
import tensorflow as tf


class WeightAverage:
  """An averaged copy of `model.energy`; `.generator` is the model's own."""

  def __init__(self, model, decay):
    if not 0.0 < decay < 1.0:
      raise ValueError(f"--ema_decay must be in (0, 1) to average, got {decay}")
    self.decay = float(decay)
    self.latent_dim = model.latent_dim
    self.energy = keras.models.clone_model(model.energy)
    self.generator = model.generator
    self._averaged = self.energy.weights
    self._current = model.energy.weights
    self.reset()

  def reset(self):
    """Starts the average at the current weights."""
    for avg, w in zip(self._averaged, self._current):
      avg.assign(w)

  @tf.function
  def update(self, decay):
    for avg, w in zip(self._averaged, self._current):
      avg.assign(decay * avg + (1.0 - decay) * w)

  def copy_to(self, model):
    """Overwrites model's E with the average (for inference after restore)."""
    for avg, w in zip(self._averaged, self._current):
      w.assign(avg)
