r"""Toy sample quality through an exported sampler: `generate`, `sample` and `sample_paper`.

  python export.py --model_dir=runs/toy_25gaussians --export_dir=/tmp/exported
  python bench/exported_sampler_quality.py --sampler=/tmp/exported/sampler/5000 \
      --scorer=/tmp/exported/scorer/5000 \
      --dataset=25gaussians --output=bench/results/exported_sampler_25gaussians.json

The same 10,000 latents z ~ N(0, I) (seeded) go through `generate` (x = G(z)) and through
100 latent MALA steps of alpha --step_size (default the paper's 0.01; a model's own is in
its export's assets.extra/sample_defaults.json) of `sample` (U = E(G(z)) + |z|^2 / 2) and
`sample_paper` (U = E(G(z))), all by the SavedModel's signatures as a served model runs
them. Prints and writes modes covered, high-quality share, KL and the high-quality spread
(engan_tf.metrics.toy.sample_statistics; for swissroll: the
distances from samples to 10,000 true samples and back, with the floor of a second true
set, and the roll's spread) and the mean acceptance rate of each. With --scorer (an
exported scorer/<version> dir), also the log-likelihood of the training run's final
evaluation (the same 10,000 true samples, the 640-point grid;
engan_tf.metrics.toy.log_likelihood) with E read from the scorer's `serving_default`
signature.
"""

import argparse
import json

import numpy as np
import tensorflow as tf

from engan_tf.data import toy
from engan_tf.metrics import toy as toy_metrics


def add_sampler_arguments(parser):
  """The flags every exported-toy-sampler bench takes (also bench/sampler_step_sweep.py)."""
  parser.add_argument("--sampler", required=True, help="An exported sampler/<version> dir.")
  parser.add_argument("--dataset", required=True, choices=sorted(toy.TOY_DENSITIES))
  parser.add_argument("--num_samples", type=int, default=10_000)
  parser.add_argument("--mcmc_steps", type=int, default=100)
  parser.add_argument("--output", default=None)


def load_sampler(args, latent_seed):
  """(density, the sampler's signatures, num_samples latents z ~ N(0, I) of latent_seed)."""
  signatures = tf.saved_model.load(args.sampler).signatures
  z = tf.random.stateless_normal([args.num_samples, 2], [latent_seed, 0])
  return toy.TOY_DENSITIES[args.dataset], signatures, z


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  add_sampler_arguments(parser)
  parser.add_argument("--scorer", default=None, help="An exported scorer/<version> dir: also "
                      "the log-likelihood of true samples under its energy.")
  parser.add_argument("--step_size", type=float, default=0.01)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  density, signatures, z = load_sampler(args, args.seed)
  results = {"sampler": args.sampler, "dataset": args.dataset, "num_samples": args.num_samples,
             "mcmc_steps": args.mcmc_steps, "step_size": args.step_size, "seed": args.seed}
  true_x = toy_metrics.reference_samples(density)  # evaluate_toy's 10,000
  if density.mode_centers is None:  # swissroll: distance to the data, and its floor
    results["true_samples"] = {  # both directions' floor: the law is symmetric
        "nearest_true_distance": toy_metrics.distance_floor(density)}
    print("true samples (floor)", json.dumps(results["true_samples"]))
  for name in ("generate", "sample", "sample_paper"):
    inputs = {"z": z}
    if name != "generate":
      inputs.update(mcmc_steps=tf.constant(args.mcmc_steps), step_size=tf.constant(args.step_size))
    out = signatures[name](**inputs)
    stats = toy_metrics.sample_statistics(out["x"].numpy(), density, true_x)
    if "acceptance_rate" in out:
      stats["acceptance_rate"] = float(np.mean(out["acceptance_rate"].numpy()))
    results[name] = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                     for k, v in stats.items()}
    print(name, json.dumps(results[name]))
  if args.scorer:
    score = tf.saved_model.load(args.scorer).signatures["serving_default"]
    energy_fn = lambda x, training=False: score(x=x)["energy"]
    results["scorer"] = {"path": args.scorer, **toy_metrics.log_likelihood(
        energy_fn, true_x, points_per_axis=640)}
    print("serving_default (scorer)", json.dumps(results["scorer"]))
  if args.output:
    with tf.io.gfile.GFile(args.output, "w") as f:
      json.dump(results, f, indent=2)


if __name__ == "__main__":
  main()
