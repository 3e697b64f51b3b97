"""Exponential moving averages of the energy's and the generator's weights.

  theta_avg <- decay * theta_avg + (1 - decay) * theta        after every generator step

Algorithm 1 trains E and G adversarially, so the last iterate oscillates (e.g. a tilt of
the energy across the data that flips as G chases its minimum). The average of the
iterates (Polyak averaging; Yazici et al. 2019 for GANs) is what `--ema_decay > 0`
evaluates, checkpoints and exports; training itself is unchanged.

Example:
  >>> average = WeightAverage(model, decay=0.999)
  >>> average.update(0.999)              # after each step (the training callback does this)
  >>> evaluation.evaluate(average, source)   # has .energy, .generator, .latent_dim
"""

import keras
import tensorflow as tf


class WeightAverage:
  """Averaged copies of `model.energy` and `model.generator` (same architectures)."""

  def __init__(self, model, decay):
    if not 0.0 < decay < 1.0:
      raise ValueError(f"--ema_decay must be in (0, 1) to average, got {decay}")
    self.decay = float(decay)
    self.latent_dim = model.latent_dim
    self.energy = keras.models.clone_model(model.energy)
    self.generator = keras.models.clone_model(model.generator)
    self._averaged = self.energy.weights + self.generator.weights
    self._current = model.energy.weights + model.generator.weights
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
    """Overwrites model's E and G with the averages (for inference after restore)."""
    for avg, w in zip(self._averaged, self._current):
      w.assign(avg)
