"""3-StackedMNIST: modes and KL of a trained model's samples before and after latent MALA.

Paper Fig. 4 / Section 4: latent MALA on E(G(z)) should refine the generator's samples.
For each model_dir (train.py runs on stacked_mnist3, EnGAN or WGAN-GP), 26,000 samples
(the paper's 26 x 10^3) from one fixed latent stream are classified channel by channel
(engan_tf.metrics.modes) as generated, and, for EnGAN (a model with an energy), after
--mcmc_steps latent MALA steps from the same latents on the paper's target U = E(G(z))
(prior none) and with the N(0, I) latent prior (gaussian), each at the fixed alpha
--step_size and at the alpha that tfp's dual averaging adapts to a 0.574 acceptance on 500
separate burn-in chains (chosen by acceptance, not by modes or KL).

  python bench/stacked_mnist3_mcmc.py --model_dirs=runs/sm3_engan,runs/sm3_wgan_gp \\
      --data_dir=../shared/data --classifier=runs/mnist_classifier.keras \\
      --output=bench/results/stacked_mnist3_mcmc.json

Writes one JSON file (the machine, each model's generator step and each sampler's modes,
KL, acceptance and alpha) and a 64-sample grid per model and sampler next to it.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import image_sampling  # noqa: E402
import machine  # noqa: E402

PRIORS = ("none", "gaussian")


def samplers(args, model):
  """[(name, mcmc_steps, prior, alpha, adaptation acceptance or None)] for one model."""
  from engan_tf.model import EnGAN
  out = [("generator", 0, "none", 0.0, None)]
  if not args.mcmc_steps or not isinstance(model, EnGAN):  # a WGAN-GP critic is no energy
    return out
  for prior in PRIORS:
    out.append((f"mala{args.mcmc_steps}_{prior}", args.mcmc_steps, prior, args.step_size, None))
    if prior in args.adapt_priors.split(","):
      alpha, rate = image_sampling.adapted_step_size(model, args.seed, prior, args.step_size)
      out.append((f"mala{args.mcmc_steps}_{prior}_adapted", args.mcmc_steps, prior, alpha, rate))
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model_dirs", required=True, help="comma-separated train.py model_dirs")
  p.add_argument("--data_dir", required=True, help="the MNIST IDX files (../shared/data)")
  p.add_argument("--classifier", required=True, help="engan_tf.metrics.mnist_classifier's")
  p.add_argument("--num_samples", type=int, default=26_000)
  p.add_argument("--mcmc_steps", type=int, default=100)
  p.add_argument("--step_size", type=float, default=0.01, help="MALA's alpha (the paper's)")
  p.add_argument("--adapt_priors", default="", help="comma-separated priors that also get "
                 "a sampler at the adapted alpha (default none: on the 60-minute EnGAN of "
                 "BUILD_NOTES' sixteenth session the adaptation collapsed alpha to ~1e-26, "
                 "a stale-drift bug fixed in the twenty-first session; not re-run since)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--output", required=True)
  args = p.parse_args()
  from engan_tf import training, visualize
  from engan_tf.metrics import mnist_classifier, modes
  classifier = mnist_classifier.load_classifier(args.classifier)
  report = {"machine": machine.describe(), "num_samples": args.num_samples, "seed": args.seed,
            "mcmc_steps": args.mcmc_steps, "models": {}}
  for model_dir in args.model_dirs.split(","):
    model = training.restore(model_dir, data_dir=args.data_dir, with_data=False).model
    entry = {"model_dir": model_dir, "generator_steps": model.step}
    for name, steps, prior, alpha, adapt_rate in samplers(args, model):
      start = time.time()
      samples, acceptance = image_sampling.latent_samples(model, args.num_samples, args.seed,
                                                          steps, prior, alpha)
      result = modes.mode_statistics_of_samples(classifier, samples)
      result.update(alpha=alpha, acceptance=acceptance, adaptation_acceptance=adapt_rate,
                    seconds=time.time() - start)
      entry[name] = result
      print(os.path.basename(model_dir), name, json.dumps(result), flush=True)
      grid = visualize.image_grid(samples[:64], columns=8,
                                  caption=f"{os.path.basename(model_dir)} {name}, step "
                                          f"{model.step}: {result['modes']} modes, KL "
                                          f"{result['kl']:.3f}")
      visualize.save_png(grid, os.path.join(os.path.dirname(os.path.abspath(args.output)),
                                            f"{os.path.basename(model_dir)}_{name}.png"))
    report["models"][os.path.basename(model_dir)] = entry
  os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(report, f, indent=2)
  print(f"written to {args.output}")


if __name__ == "__main__":
  main()
