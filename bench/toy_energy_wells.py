"""Shape of a trained toy energy around its modes: where the log-likelihood goes.

  python bench/toy_energy_wells.py runs/toy_25gaussians

Prints the spread of E over the mode centres (a tilt between modes) and the mean rise
E(centre + r) - E(centre) at a few radii (how deep and narrow the wells are), then the
log-likelihood of 10,000 true samples (engan_tf.metrics.toy, 256-point grids). For
25gaussians a log-likelihood of -1.0 needs wells of std ~0.13: +0.30 at r = 0.1, +1.2 at
0.2 and +3.6 at 0.35 (half-way to the next mode).
"""

import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from engan_tf import training  # pylint: disable=wrong-import-position
from engan_tf.metrics import toy  # pylint: disable=wrong-import-position

RADII = (0.02, 0.05, 0.1, 0.2, 0.35)


def main(model_dir):
  source, model = training.restore(model_dir)[1:3]
  density = source.toy_density
  centres = np.asarray(density.mode_centers, np.float32)
  e_centres = model.energy(centres).numpy()
  print(f"E at the {len(centres)} centres: min {e_centres.min():.2f}, max {e_centres.max():.2f}, "
        f"spread {np.ptp(e_centres):.2f}")
  for r in RADII:
    rise = model.energy(centres + np.float32([r, 0.0])).numpy() - e_centres
    print(f"r = {r}: mean E(centre + r) - E(centre) = {rise.mean():+.2f}")
  x = density.sample(tf.constant([4321, 0]), 10_000).numpy()
  print(toy.log_likelihood(model.energy, x, points_per_axis=256))


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(__doc__)
  main(sys.argv[1])
