"""The 2-D toy densities of Gulrajani et al. (2017), as used by the EnGAN paper (Section 5.1).

Each generator is written in TensorFlow with stateless random ops, so a batch is a pure
function of `(seed, step)`: a resumed run draws the same stream it would have drawn.

  25gaussians: centres (2i, 2j), i, j in -2..2, std 0.05, everything divided by 2.828.
  8gaussians:  the 8 unit-circle directions (axes and diagonals) times 2, std 0.02, / 1.414.
  swissroll:   sklearn's make_swiss_roll(noise=0.25), dims (0, 2), divided by 7.5.

Example:
  >>> spec = TOY_DENSITIES["25gaussians"]
  >>> x = spec.sample(tf.constant([0, 1]), 256)
  >>> x.shape, x.dtype
  (TensorShape([256, 2]), tf.float32)
  >>> bool(tf.reduce_all(spec.sample(tf.constant([0, 1]), 256) == x))   # same (seed, step)
  True
"""

import collections
import math

import numpy as np
import tensorflow as tf

ToyDensity = collections.namedtuple(
    "ToyDensity",
    ["name", "sample", "mode_centers", "mode_std"],
)
# sample(seed: int32[2] tensor, n: int) -> float32 [n, 2]
# mode_centers: float64 [k, 2] numpy array or None (swissroll has no discrete modes)
# mode_std: the per-coordinate std of each mode after scaling, or None


def _grid25_centers():
  return np.array([[2.0 * i, 2.0 * j] for i in range(-2, 3) for j in range(-2, 3)]) / 2.828


def _eight_centers():
  s = 1.0 / math.sqrt(2.0)
  dirs = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [s, s], [s, -s], [-s, s], [-s, -s]])
  return 2.0 * dirs / 1.414


def _mixture_sampler(centers, std):
  # No TensorFlow op at import time: MultiWorkerMirroredStrategy must configure the
  # runtime before the first op runs.
  def sample(seed, n):
    centers_t = tf.constant(centers, tf.float32)
    seed_idx, seed_noise = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    idx = tf.random.stateless_uniform([n], seed_idx, 0, centers.shape[0], dtype=tf.int32)
    noise = tf.random.stateless_normal([n, 2], seed_noise, stddev=std)
    return tf.gather(centers_t, idx) + noise

  return sample


def _swissroll_sample(seed, n):
  # sklearn.datasets.make_swiss_roll: t = 1.5 pi (1 + 2u); (t cos t, 21 v, t sin t) + N(0, noise^2).
  s1, s2, s3 = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
  t = 1.5 * math.pi * (1.0 + 2.0 * tf.random.stateless_uniform([n], s1))
  del s2  # the roll's height (dim 1) is dropped by the (0, 2) projection
  xyz = tf.stack([t * tf.cos(t), t * tf.sin(t)], axis=1)
  xyz += tf.random.stateless_normal([n, 2], s3, stddev=0.25)
  return xyz / 7.5


_C25 = _grid25_centers()
_C8 = _eight_centers()

TOY_DENSITIES = {
    "25gaussians": ToyDensity("25gaussians", _mixture_sampler(_C25, 0.05 / 2.828), _C25, 0.05 / 2.828),
    "8gaussians": ToyDensity("8gaussians", _mixture_sampler(_C8, 0.02 / 1.414), _C8, 0.02 / 1.414),
    "swissroll": ToyDensity("swissroll", _swissroll_sample, None, None),
}


def true_log_prob(density, x):
  """log p(x) of the true mixture (numpy, float64) for the Gaussian-mixture densities."""
  if density.mode_centers is None:
    raise ValueError(f"{density.name} has no closed-form density")
  x = np.asarray(x, np.float64)
  var = density.mode_std ** 2
  d2 = ((x[:, None, :] - density.mode_centers[None, :, :]) ** 2).sum(-1)
  log_comp = -d2 / (2 * var) - np.log(2 * np.pi * var) - np.log(len(density.mode_centers))
  m = log_comp.max(1, keepdims=True)
  return (m + np.log(np.exp(log_comp - m).sum(1, keepdims=True)))[:, 0]
