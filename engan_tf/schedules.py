"""A learning-rate decay counted in generator steps (--lr_decay_start, --lr_decay_final).

  factor(s) = 1                                          s <= s0 = start * train_steps
            = 1 - (1 - final) * p                        linear, p = (s - s0) / (train_steps - s0)
            = final + (1 - final) * (1 + cos(pi p)) / 2   cosine
            = final                                      s >= train_steps

Every optimizer's rate at generator step s (0-based: the update that takes the step
counter from s to s + 1) is its base rate (--learning_rate, --energy_learning_rate) times
factor(s). The energy's optimizer steps n_critic times per generator step, so its own
`iterations` is not the clock: the model sets all the rates from the generator optimizer's
`iterations` at the start of each train step (engan_tf.adversarial), inside the compiled
step. The optimizers keep their `learning_rate` variables, so a checkpoint's layout is the
same with and without a schedule, and a resumed run continues the schedule from its
restored step counter; the base rates and the schedule come from the command line.

Example:
  >>> from engan_tf.config import TrainConfig
  >>> decay = LearningRateDecay.from_config(TrainConfig(train_steps=5000, lr_decay_start=0.6))
  >>> decay.factor_at(4000)   # closed form, in Python: s0 = 3000, p = 1000 / 2000
  0.5
"""

import math

import tensorflow as tf


class LearningRateDecay:
  """factor(generator step) of the module's formula."""

  def __init__(self, train_steps, start, final=0.0, shape="linear"):
    if not 0 <= start < 1:
      raise ValueError(f"start must be in [0, 1), got {start}")
    if not 0 <= final <= 1:
      raise ValueError(f"final must be in [0, 1], got {final}")
    if shape not in ("linear", "cosine"):
      raise ValueError(f"shape must be linear or cosine, got {shape!r}")
    self.train_steps = int(train_steps)
    self.start_step = float(start) * self.train_steps
    self.final = float(final)
    self.shape = shape

  @classmethod
  def from_config(cls, config):
    """The decay --lr_decay_start asks for, or None (1: constant rates)."""
    if config.lr_decay_start >= 1:
      return None
    return cls(config.train_steps, config.lr_decay_start, config.lr_decay_final,
               config.lr_decay_shape)

  def _progress(self, step, clip, cos):
    span = max(self.train_steps - self.start_step, 1.0)
    p = clip((step - self.start_step) / span)
    if self.shape == "cosine":
      return self.final + (1.0 - self.final) * 0.5 * (1.0 + cos(math.pi * p))
    return 1.0 - (1.0 - self.final) * p

  def factor_at(self, step):
    """The factor at generator step `step` (a Python number; the closed form)."""
    return self._progress(float(step), lambda p: min(max(p, 0.0), 1.0), math.cos)

  def __call__(self, step):
    """The factor at generator step `step` (a tensor; float32)."""
    step = tf.cast(step, tf.float32)
    return self._progress(step, lambda p: tf.clip_by_value(p, 0.0, 1.0), tf.cos)

  def __repr__(self):
    return (f"LearningRateDecay(train_steps={self.train_steps}, start_step={self.start_step:g}, "
            f"final={self.final:g}, shape={self.shape!r})")
