r"""Where a toy energy loses log-likelihood: the balance of its wells and their width.

  python export.py --model_dir=runs/toy_25gaussians --export_dir=/tmp/exported
  python bench/toy_mode_masses.py --scorer=/tmp/exported/scorer/5000 --dataset=25gaussians

For each mode centre c, the exported scorer's energy (`serving_default`) on a square grid
of half-width --half_width around c gives that well's mass m_c = sum exp(-E) (up to the
grid cell) and its per-coordinate variance v_c under exp(-E). Prints, as one JSON line:
  kl_uniform_to_masses  KL(uniform || m / sum m): nats of log-likelihood lost because the
                        wells hold unequal mass (the data's modes are equally likely);
  width_ratio           median sqrt(v_c) / the data's mode std;
  width_cost            log r + 1/r - 1 with r = width_ratio^2: the nats lost per sample
                        (2 coordinates) by a Gaussian well r times the data's variance.
"""

import argparse
import json

import numpy as np
import tensorflow as tf

from engan_tf.data import toy


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--scorer", required=True, help="An exported scorer/<version> dir.")
  parser.add_argument("--dataset", required=True, choices=["25gaussians", "8gaussians"])
  parser.add_argument("--half_width", type=float, default=0.35,
                      help="Half-width of each well's grid (25gaussians: half the spacing).")
  parser.add_argument("--points", type=int, default=281, help="Grid points per axis.")
  args = parser.parse_args()

  density = toy.TOY_DENSITIES[args.dataset]
  energy = tf.saved_model.load(args.scorer).signatures["serving_default"]
  axis = np.linspace(-args.half_width, args.half_width, args.points, dtype=np.float32)
  offsets = np.stack([a.ravel() for a in np.meshgrid(axis, axis)], 1)
  log_masses, variances = [], []
  for centre in np.asarray(density.mode_centers, np.float32):
    e = energy(tf.constant(centre + offsets))["energy"].numpy()
    weights = np.exp(-(e - e.min()))
    log_masses.append(np.log(weights.sum()) - e.min())
    variances.append(np.sum(weights * np.sum(offsets ** 2, 1)) / weights.sum() / 2)
  log_masses = np.asarray(log_masses)
  log_masses -= np.logaddexp.reduce(log_masses)
  ratio = float(np.median(variances)) / density.mode_std ** 2
  print(json.dumps({
      "scorer": args.scorer, "dataset": args.dataset,
      "kl_uniform_to_masses": float(np.mean(-np.log(len(log_masses)) - log_masses)),
      "width_ratio": float(np.sqrt(ratio)),
      "width_cost": float(np.log(ratio) + 1 / ratio - 1)}))


if __name__ == "__main__":
  main()
