"""The support wall: a table's scoring energy rises outside its training rows' range.

A tabular model sees its features min-max scaled on the training rows (engan_tf.data.tabular),
so every training row lies in [0, 1]^d. Beyond that box the energy was never trained: no
data row and, in general, no generator sample reached there, and E(x) can be anything (on a
synthetic 500,000-row table, rows shifted out of every column's range got a lower energy
than normal rows at one seed; BUILD_NOTES twelfth session). Scoring fails closed there with

  E_wall(x) = E(x) + s * sum_i 0.5 * (excess_i(x) / width)^2,
  excess_i(x) = max(0, x_i - (1 + margin), -margin - x_i),

s the interquartile range of E on the training rows (ensemble.standardisation; so the wall
is in the energy's own units: an excess of one `width` adds half an IQR, three widths
4.5). Inside the box widened by `margin` (a share of each column's training span) nothing
changes; outside, the score grows with how far the record lies out, its gradient names the
column (the exported explanations' `top_column`), and the threshold, fit on held-out
normal rows with the wall, keeps the stated false-alarm rate. It is a prior on the
support, applied at scoring time only: training and its checkpoints are Algorithm 1
unchanged.

The held-out-cluster criterion chose margin 0.1 (bench/cluster_selection.py, thirteenth
session; BUILD_NOTES). The training driver fits the wall at the end of a tabular run
(`fit`) and saves it in model_dir/support_wall.json with the step it belongs to;
`training.restore` applies it (`Walled`) to the latest checkpoint of that step (a
--select_metric model scores without it, as its thresholds were fit). --support_margin < 0
turns it off; a model_dir trained before the wall existed has none.

Example, with E(x) = sum_i x_i:
  >>> energy = lambda x, training=False: tf.reduce_sum(x, axis=-1)
  >>> wall = SupportWall(step=1000, margin=0.1, width=0.1, scale=2.0)
  >>> walled = WalledEnergy(energy, wall)
  >>> x = tf.constant([[0.5, 1.05], [1.3, -0.3]])   # inside [-0.1, 1.1]^2; 0.2 out twice
  >>> # walled(x) == energy(x) + 2.0 * 0.5 * sum((excess(x, 0.1) / 0.1) ** 2): 1.55 + 0, 1 + 8
  >>> [round(float(v), 3) for v in walled(x)]
  [1.55, 9.0]
"""

import dataclasses

import keras
import tensorflow as tf

from engan_tf import ensemble

WIDTH = 0.1  # the wall's length scale in units of a column's training span


@dataclasses.dataclass(frozen=True)
class SupportWall:
  """The wall of one checkpoint's energy (see the module docstring)."""
  step: int  # the generator step of the energy whose scale it carries
  margin: float
  width: float
  scale: float


def excess(x, margin):
  """[batch, d]: how far each feature lies outside [-margin, 1 + margin] (0 inside)."""
  x = tf.cast(tf.reshape(x, [tf.shape(x)[0], -1]), tf.float32)
  return tf.maximum(0.0, tf.maximum(x - (1.0 + margin), -margin - x))


def penalty(x, margin, width=WIDTH):
  """[batch]: sum_i 0.5 * (excess_i(x) / width)^2, the wall in units of its scale."""
  return 0.5 * tf.reduce_sum(tf.square(excess(x, margin) / width), axis=-1)


class WalledEnergy(keras.Model):
  """E(x) + the support wall (see the module docstring)."""

  def __init__(self, energy, wall: SupportWall, **kwargs):
    super().__init__(**kwargs)
    self.energy = energy
    self.wall = wall

  def call(self, x, training=False):
    wall = self.wall
    return (tf.cast(self.energy(x, training=training), tf.float32)
            + wall.scale * penalty(x, wall.margin, wall.width))


class Walled:
  """What inference needs of a model whose energy has a wall (the attributes a restored
  model has): `energy` (E_wall), `generator`, `latent_dim`, `step`; `unwalled` the model."""

  def __init__(self, model, wall: SupportWall):
    self.unwalled = model
    self.wall = wall
    self.energy = WalledEnergy(model.energy, wall, name="energy")
    self.generator = model.generator
    self.latent_dim = model.latent_dim

  @property
  def step(self):
    return self.unwalled.step

  @property
  def for_inference(self):
    return self


def fit(energy, x_train, step, margin, width=WIDTH) -> SupportWall:
  """The wall of `energy` (at generator `step`) for training rows x_train (model space)."""
  if margin < 0:
    raise ValueError(f"a support wall needs margin >= 0, got {margin}")
  return SupportWall(step=int(step), margin=float(margin), width=float(width),
                     scale=ensemble.standardisation(energy, x_train).spread)
