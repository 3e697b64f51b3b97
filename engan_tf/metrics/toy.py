"""Metrics for the 2-D toy densities.

* Mode coverage (after Srivastava et al. 2017 / Belghazi et al. 2018): a generated sample
  is *high quality* when it lies within `3 std` of its nearest mode centre; a mode is
  *covered* when at least 20 of 10,000 samples are high-quality samples of it; KL is
  KL(histogram of high-quality samples over modes || uniform).
  `high_quality_spread` is the high-quality samples' rms offset from their mode per
  coordinate, in mode std (true samples: 0.97, the 3-std cut): below 1 the sampler's modes
  are narrower than the data's, which the high-quality share rewards rather than sees.
* Distance to the data (for swissroll, which has no modes): the mean distance from each
  sample to its nearest of 10,000 true samples (`nearest_true_distance`: precision); the same
  figure for a second set of true samples is its floor (about 0.0068 on swissroll; it shrinks
  as the reference set grows). A sampler that piles its samples on the densest parts of the
  data goes below the floor, so the reverse, the mean distance from each true sample to its
  nearest of 10,000 samples (`nearest_sample_distance`: coverage), is reported beside it,
  and `roll_spread`, the rms distance of the samples to the noiseless roll in noise std
  (true samples: 1.0; a sampler that collapses the roll onto its spine: far below).
* Log-likelihood of true samples under p(x) = exp(-E(x)) / Z, with log Z from a Riemann
  sum on nested grids: a fine grid on the inner box [-4, 4]^2, then rings of coarser grids
  out to `outer_half_width`. The mass outside the inner box is reported, so a reader can
  check that widening the box changes nothing.

Example, on 10,000 samples of the true density (within 3 std in 2-D: 1 - exp(-4.5) = 0.989):
  >>> from engan_tf.data.toy import TOY_DENSITIES
  >>> density = TOY_DENSITIES["25gaussians"]
  >>> samples = density.sample(tf.constant([0, 0]), 10_000).numpy()
  >>> stats = mode_statistics(samples, density.mode_centers, density.mode_std)
  >>> stats["modes_covered"], round(stats["high_quality_fraction"], 2)
  (25, 0.99)
"""

import numpy as np
import tensorflow as tf

from engan_tf.data import toy


def mode_statistics(samples, centers, std, n_std=3.0, min_count=20):
  samples = np.asarray(samples, np.float64)
  d2 = ((samples[:, None, :] - np.asarray(centers)[None, :, :]) ** 2).sum(-1)
  nearest = d2.argmin(1)
  good = np.sqrt(d2[np.arange(len(samples)), nearest]) <= n_std * std
  counts = np.bincount(nearest[good], minlength=len(centers))
  hq = counts.sum()
  offsets = d2[np.arange(len(samples)), nearest][good]
  if hq:
    p = counts / hq
    nz = p > 0
    kl = float((p[nz] * np.log(p[nz] * len(centers))).sum())
  else:
    kl = float("inf")
  return {
      "modes_covered": int((counts >= min_count).sum()),
      "num_modes": int(len(centers)),
      "high_quality_fraction": float(hq / len(samples)),
      "kl_to_uniform": kl,
      "high_quality_spread": float(np.sqrt(offsets.mean() / 2) / std) if hq else float("nan"),
  }


def nearest_distance(samples, reference):
  """Mean Euclidean distance from each sample to its nearest reference point.

  >>> samples, reference = np.array([[0.0, 3.0], [1.0, 1.0]]), np.array([[0.0, 0.0], [1.0, 0.0]])
  >>> round(nearest_distance(samples, reference), 6)   # (3 + 1) / 2
  2.0
  """
  return float(np.sqrt(_nearest_squared_distances(samples, reference)).mean())


def _nearest_squared_distances(samples, reference, chunk=1024):
  samples = np.asarray(samples, np.float64)
  reference = np.asarray(reference, np.float64)
  ref_sq = (reference ** 2).sum(1)
  out = []
  for i in range(0, len(samples), chunk):
    rows = samples[i:i + chunk]
    # |a - b|^2 = |a|^2 - 2 a.b + |b|^2: one matmul per chunk instead of an [n, m, d] array.
    d2 = (rows ** 2).sum(1, keepdims=True) - 2.0 * rows @ reference.T + ref_sq[None, :]
    out.append(np.maximum(d2.min(1), 0.0))
  return np.concatenate(out) if out else np.zeros([0])


REFERENCE_SEED = (4321, 0)  # the true samples every toy figure is measured against


def reference_samples(density, num_samples=10_000, seed=REFERENCE_SEED):
  """The true samples a toy evaluation compares with (log-likelihood, distance to data)."""
  return density.sample(tf.constant(seed), num_samples).numpy()


def roll_spread(samples):
  """The rms distance of samples to the noiseless swissroll, in units of the roll's noise std.

  The noise is isotropic in 2-D and the roll's curvature radius (>= 0.63) is large against
  it, so the distance to the spine is about |N(0, std^2)| across the roll: true samples
  give 1.0.
  """
  mean_sq = _nearest_squared_distances(samples, toy.swissroll_curve()).mean()
  return float(np.sqrt(mean_sq) / toy.SWISSROLL_NOISE_STD)


def sample_statistics(samples, density, reference=None):
  """A toy's figures of generated samples: `mode_statistics` for the Gaussian mixtures,
  `swissroll_statistics` (against `reference`, default `reference_samples`) for swissroll."""
  if density.mode_centers is None:
    return swissroll_statistics(samples, density, reference)
  return mode_statistics(samples, density.mode_centers, density.mode_std)


def swissroll_statistics(samples, density, reference=None):
  """The swissroll's figures: precision and coverage distances to true samples, roll spread."""
  if reference is None:
    reference = reference_samples(density)
  return {"nearest_true_distance": nearest_distance(samples, reference),
          "nearest_sample_distance": nearest_distance(reference, samples),
          "roll_spread": roll_spread(samples)}


def distance_floor(density, num_samples=10_000):
  """`nearest_true_distance` of a second set of true samples: what a perfect sampler has."""
  return nearest_distance(reference_samples(density, num_samples, (REFERENCE_SEED[0] + 1, 0)),
                          reference_samples(density, num_samples))


def _batched_energy(energy_fn, points, batch=65536):
  out = [energy_fn(tf.constant(points[i:i + batch], tf.float32), training=False).numpy()
         for i in range(0, len(points), batch)]
  return np.concatenate(out).astype(np.float64)


def _grid(half_width, n):
  h = 2.0 * half_width / n
  c = -half_width + h * (np.arange(n) + 0.5)  # cell centres
  xx, yy = np.meshgrid(c, c, indexing="ij")
  return np.stack([xx.ravel(), yy.ravel()], 1), h


def _logsumexp(a):
  if a.size == 0:
    return -np.inf
  m = a.max()
  return float(m + np.log(np.exp(a - m).sum()))


def log_partition(energy_fn, inner_half_width=4.0, outer_half_width=32.0, points_per_axis=640):
  """log Z of exp(-E) on [-outer, outer]^2, by nested grids that double the box each ring.

  Returns (log_z, log_z_inner, mass_outside_inner): log Z on the whole box, on the inner
  box alone, and the share of the mass outside the inner box.
  """
  pts, h = _grid(inner_half_width, points_per_axis)
  log_terms = [_logsumexp(-_batched_energy(energy_fn, pts)) + 2 * np.log(h)]
  half = inner_half_width
  while half < outer_half_width:
    pts, h = _grid(2 * half, points_per_axis)
    ring = np.abs(pts).max(1) > half  # cells of the ring only (cell edges align with the box)
    log_terms.append(_logsumexp(-_batched_energy(energy_fn, pts[ring])) + 2 * np.log(h))
    half *= 2
  log_z = _logsumexp(np.array(log_terms))
  return log_z, log_terms[0], float(1.0 - np.exp(log_terms[0] - log_z))


def log_likelihood(energy_fn, x, **grid_options):
  """Mean log p(x) under exp(-E)/Z, plus the log Z diagnostics."""
  log_z, log_z_inner, outside = log_partition(energy_fn, **grid_options)
  e = _batched_energy(energy_fn, np.asarray(x, np.float32))
  return {
      "log_likelihood": float(np.mean(-e) - log_z),
      "log_likelihood_inner_box": float(np.mean(-e) - log_z_inner),
      "log_z": log_z,
      "mass_outside_inner_box": outside,
  }
