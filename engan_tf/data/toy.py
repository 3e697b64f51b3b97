"""The 2-D toy densities of Gulrajani et al. (2017), as used by the EnGAN paper (Section 5.1).

Each generator is written in TensorFlow with stateless random ops, so a batch is a pure
function of `(seed, step)`: a resumed run draws the same stream it would have drawn.

  25gaussians: centres (2i, 2j), i, j in -2..2, std 0.05, everything divided by 2.828.
  8gaussians:  the 8 unit-circle directions (axes and diagonals) times 2, std 0.02, / 1.414.
  swissroll:   sklearn's make_swiss_roll(noise=0.25), dims (0, 2), divided by 7.5.

`true_log_prob` is the exact log-density of each (for swissroll by quadrature over the
roll's parameter), so a learned energy's log-likelihood has a truth to be measured against.

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


_ROLL_T = (1.5 * math.pi, 4.5 * math.pi)  # make_swiss_roll's parameter range
_ROLL_NOISE, _ROLL_SCALE = 0.25, 7.5
SWISSROLL_NOISE_STD = _ROLL_NOISE / _ROLL_SCALE  # per coordinate, in data units (0.033)


def _swissroll_sample(seed, n):
  # sklearn.datasets.make_swiss_roll: t = 1.5 pi (1 + 2u); (t cos t, 21 v, t sin t) + N(0, noise^2).
  s1, s2, s3 = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
  t = _ROLL_T[0] + (_ROLL_T[1] - _ROLL_T[0]) * tf.random.stateless_uniform([n], s1)
  del s2  # the roll's height (dim 1) is dropped by the (0, 2) projection
  xyz = tf.stack([t * tf.cos(t), t * tf.sin(t)], axis=1)
  xyz += tf.random.stateless_normal([n, 2], s3, stddev=_ROLL_NOISE)
  return xyz / _ROLL_SCALE


def swissroll_curve(num_points=8192):
  """The noiseless roll (t cos t, t sin t) / 7.5 at midpoints of num_points equal steps of t.

  Its points are spaced <= 0.0022 apart, a fifteenth of the noise's std 0.033, so the
  swissroll is the equal-weight mixture of N(point, 0.033^2 I) over them to quadrature
  accuracy.
  """
  t = _ROLL_T[0] + (_ROLL_T[1] - _ROLL_T[0]) * (np.arange(num_points) + 0.5) / num_points
  return np.stack([t * np.cos(t), t * np.sin(t)], 1) / _ROLL_SCALE


_C25 = _grid25_centers()
_C8 = _eight_centers()

TOY_DENSITIES = {
    "25gaussians": ToyDensity("25gaussians", _mixture_sampler(_C25, 0.05 / 2.828), _C25, 0.05 / 2.828),
    "8gaussians": ToyDensity("8gaussians", _mixture_sampler(_C8, 0.02 / 1.414), _C8, 0.02 / 1.414),
    "swissroll": ToyDensity("swissroll", _swissroll_sample, None, None),
}


def true_log_prob(density, x):
  """log p(x) of the true density (numpy, float64, [n]): the Gaussian mixture's in closed
  form; the swissroll's as the mixture over `swissroll_curve` (quadrature over t)."""
  if density.mode_centers is None:
    return _mixture_log_prob(x, swissroll_curve(), SWISSROLL_NOISE_STD)
  return _mixture_log_prob(x, density.mode_centers, density.mode_std)


def _mixture_log_prob(x, centers, std, chunk=512):
  # Equal-weight isotropic mixture; rows in chunks so [chunk, k] stays small for k = 8192.
  x = np.asarray(x, np.float64)
  var = std ** 2
  out = []
  centers_sq = (centers ** 2).sum(1)
  for i in range(0, len(x), chunk):
    rows = x[i:i + chunk]
    d2 = np.maximum((rows ** 2).sum(1, keepdims=True) - 2.0 * rows @ centers.T + centers_sq, 0.0)
    log_comp = -d2 / (2 * var) - np.log(2 * np.pi * var) - np.log(len(centers))
    m = log_comp.max(1, keepdims=True)
    out.append((m + np.log(np.exp(log_comp - m).sum(1, keepdims=True)))[:, 0])
  return np.concatenate(out) if out else np.zeros([0])
