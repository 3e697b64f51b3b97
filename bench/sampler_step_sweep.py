r"""The exported sampler's quality by latent MALA step size: how --sample_step_size is chosen.

  python export.py --model_dir=runs/toy_25gaussians --export_dir=/tmp/exported
  python bench/sampler_step_sweep.py --sampler=/tmp/exported/sampler/5000 \
      --dataset=25gaussians --latent_seed=1 --output=bench/results/sampler_step_sweep.json

The same 10,000 latents z ~ N(0, I) (--latent_seed: choose on one draw, report on another)
go through `generate` and through --mcmc_steps latent MALA steps of `sample` (with the N(0, I)
latent prior) and `sample_paper` at each alpha of --step_sizes. Prints one line per run: modes,
high-quality share, KL and the high-quality samples' spread (25gaussians, 8gaussians) or the
distances to 10,000 true samples and back and the roll's spread (swissroll), and the mean
acceptance rate. For the mixtures it also
splits the chains by where G put their start (within 3 mode std, 3-8 std, farther: on the
bridges between modes) and gives each group's acceptance and the share of it that ends
within 3 std of a mode: the group that an alpha too large leaves stuck.
"""

import argparse
import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exported_sampler_quality import add_sampler_arguments, load_sampler  # noqa: E402

from engan_tf.metrics.toy import sample_statistics  # noqa: E402

START_EDGES = (3.0, 8.0)  # groups of the start's distance to a mode, in std: <= 3, <= 8, more


def _std_distance(x, density):
  d2 = ((x[:, None, :] - density.mode_centers[None, :, :]) ** 2).sum(-1)
  return np.sqrt(d2.min(1)) / density.mode_std


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  add_sampler_arguments(parser)
  parser.add_argument("--step_sizes", default="1e-2,1e-3,1e-4,3e-5,1e-5,3e-6,1e-6")
  parser.add_argument("--latent_seed", type=int, default=0)
  args = parser.parse_args()

  density, signatures, z = load_sampler(args, args.latent_seed)
  x0 = signatures["generate"](z=z)["x"].numpy()
  results = {"sampler": args.sampler, "dataset": args.dataset, "mcmc_steps": args.mcmc_steps,
             "num_samples": args.num_samples, "latent_seed": args.latent_seed,
             "generate": sample_statistics(x0, density), "runs": []}
  print("generate", json.dumps(results["generate"]))
  group_of = None
  if density.mode_centers is not None:
    group_of = np.digitize(_std_distance(x0, density), START_EDGES, right=True)
  for alpha in (float(a) for a in args.step_sizes.split(",")):
    for name in ("sample", "sample_paper"):
      out = signatures[name](z=z, mcmc_steps=tf.constant(args.mcmc_steps),
                             step_size=tf.constant(alpha))
      x, acceptance = out["x"].numpy(), out["acceptance_rate"].numpy()
      run = {"signature": name, "step_size": alpha, **sample_statistics(x, density),
             "acceptance_rate": float(acceptance.mean())}
      if group_of is not None:
        ends_in_mode = _std_distance(x, density) <= 3.0
        run["by_start"] = []
        for g, label in enumerate(("<= 3 std", "3-8 std", "> 8 std")):
          group = group_of == g
          run["by_start"].append({
              "start": label, "chains": int(group.sum()),
              "acceptance_rate": float(acceptance[group].mean()) if group.any() else None,
              "ends_within_3_std": float(ends_in_mode[group].mean()) if group.any() else None})
      results["runs"].append(run)
      print(name, alpha, json.dumps({k: v for k, v in run.items()
                                     if k not in ("signature", "step_size")}), flush=True)
  if args.output:
    with tf.io.gfile.GFile(args.output, "w") as f:
      json.dump(results, f, indent=2)


if __name__ == "__main__":
  main()
