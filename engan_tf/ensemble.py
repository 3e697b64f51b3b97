"""A seed ensemble: independent fits of Algorithm 1 whose energies are averaged for scoring.

Two fits of the same command differ in anomaly AUROC by as much as recipes do (breast
cancer 0.71-0.92 over three seeds, BUILD_NOTES ninth session). `--ensemble_size=K` trains
K members, identical but for their seeds (seed, seed + 1, ...), on the same rows and
preprocessing, and scores with

  E_ens(x) = (1/K) sum_k (E_k(x) - m_k) / s_k,

m_k and s_k the median and interquartile range of member k's (averaged) energy on the
training rows: each member on one scale, so none dominates by its arbitrary energy scale,
and no labels needed. E_ens is a product of experts (the density exp(-E_ens) is the
normalised product of the members' tempered densities), so it is an energy like any other:
its score norm ||grad_x E_ens||^2, explanations, thresholds and exported signatures are
computed from it unchanged. Sampling uses member 0's generator with latent MALA on E_ens.
The held-out-cluster criterion chose K = 3 for small tables (bench/cluster_selection.py;
BUILD_NOTES tenth session).

Each member is an ordinary resumable run in model_dir/members/<k>/; the ensemble's own
files (config.json, the thresholds, final_eval.json, `ensemble.json` with m_k and s_k) are
in model_dir.

Example, with two closed-form member energies:
  >>> e0 = lambda x, training=False: tf.reduce_sum(x, axis=-1)
  >>> e1 = lambda x, training=False: tf.reduce_sum(tf.square(x), axis=-1)
  >>> standardisation(e0, np.arange(8.0).reshape(4, 2))   # E_0 = 1, 5, 9, 13: quartiles 4, 10
  Standardisation(median=7.0, spread=6.0)
  >>> e = EnsembleEnergy([e0, e1], [Standardisation(0.3, 0.1), Standardisation(2.0, 4.0)])
  >>> x = tf.constant([[1.0, 1.0]])
  >>> round(float(e(x)[0]), 3)   # == ((e0(x) - 0.3) / 0.1 + (e1(x) - 2.0) / 4.0) / 2
  8.5
"""

from typing import List, NamedTuple

import keras
import numpy as np
import tensorflow as tf

_MAX_REFERENCE_ROWS = 50_000
# The exported decision of an ensemble: the criterion chose the averaged energy; the score
# norm's choice switched from member to member on small tables (BUILD_NOTES tenth session).
DECISION_FUNCTION = "energy"


class Standardisation(NamedTuple):
  """One member's scale: E_k is used as (E_k - median) / spread."""
  median: float
  spread: float


def standardisation(energy, rows, batch=8192) -> Standardisation:
  """The median and interquartile range of energy(rows) (a spread of 0 counts as 1)."""
  if len(rows) > _MAX_REFERENCE_ROWS:
    rows = rows[np.random.RandomState(0).choice(len(rows), _MAX_REFERENCE_ROWS, replace=False)]
  values = np.concatenate([np.asarray(energy(tf.constant(rows[i:i + batch]), training=False),
                                      np.float64).ravel() for i in range(0, len(rows), batch)])
  spread = float(np.subtract(*np.percentile(values, [75, 25])))
  return Standardisation(float(np.median(values)), spread if spread > 0 else 1.0)


class EnsembleEnergy(keras.Model):
  """E_ens(x) = mean_k (E_k(x) - median_k) / spread_k (see the module docstring)."""

  def __init__(self, members, scales: List[Standardisation], **kwargs):
    super().__init__(**kwargs)
    if len(members) != len(scales) or not members:
      raise ValueError(f"{len(members)} member energies for {len(scales)} standardisations")
    self.members = list(members)
    self.medians = tf.constant([s.median for s in scales], tf.float32)
    self.spreads = tf.constant([s.spread for s in scales], tf.float32)

  def call(self, x, training=False):
    energies = tf.stack([tf.cast(m(x, training=training), tf.float32) for m in self.members],
                        axis=-1)
    return tf.reduce_mean((energies - self.medians) / self.spreads, axis=-1)


class Ensemble:
  """What inference needs of a trained ensemble (the attributes a restored model has):
  `energy` (E_ens), `generator` (member 0's), `latent_dim`, `step` (the members' least)."""

  def __init__(self, members, scales):
    self.members = members  # AdversarialEnergyModels, their inference weights loaded
    self.energy = EnsembleEnergy([m.energy for m in members], scales, name="energy")
    self.generator = members[0].generator
    self.latent_dim = members[0].latent_dim

  @property
  def step(self):
    return min(m.step for m in self.members)

  @property
  def for_inference(self):
    return self
