"""An exponential moving average of the energy's weights.

  theta_avg <- decay * theta_avg + (1 - decay) * theta        after every generator step

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
  >>> average.update(0.999)      # after each step (the WeightAveraging callback does this)
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

  @tf.function
  def update(self, decay):
    """theta_avg <- decay * theta_avg + (1 - decay) * theta."""
    for avg, w in zip(self._averaged, self._current):
      avg.assign(decay * avg + (1.0 - decay) * w)

  def copy_to(self, model):
    """Overwrites model's E with the average (for inference after restore)."""
    for avg, w in zip(self._averaged, self._current):
      w.assign(avg)
