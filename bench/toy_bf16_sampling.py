r"""A trained toy model's latent MALA with its networks in float32 and in bfloat16 compute.

  PYTHONPATH=. python bench/toy_bf16_sampling.py runs/toy_25gaussians_s0 [--threads=2] \
      > bench/results/toy_bf16_sampling_seed0.json

The model is restored twice (engan_tf.training.restore): as trained (float32) and with
mixed_precision=True, its networks built under Keras' `mixed_bfloat16` policy around the
same float32 weights (bfloat16 matmuls; what `sample.py --mixed_precision` runs). Both run
`engan_tf.mcmc.latent_mala` with the exported `sample` signature's defaults (N(0, I) latent prior, alpha 0.01, 100 steps) from
the same 10,000 seeded latents and the same seed; mode statistics of G(z) and of the chains'
end (engan_tf.metrics.toy.sample_statistics) and the acceptance rate are printed as one JSON
line, then chain-steps per second of 10-step calls, fp32 and bf16 alternating, 5 each.
"""

import argparse
import json
import statistics
import time

import numpy as np
import tensorflow as tf

from engan_tf import mcmc
from engan_tf import training
from engan_tf.data import toy
from engan_tf.metrics import toy as toy_metrics


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("model_dir")
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--num_samples", type=int, default=10_000)
  args = parser.parse_args()
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  restored = training.restore(args.model_dir, with_data=False)
  bf16 = training.restore(args.model_dir, with_data=False, mixed_precision=True).model
  model = restored.model
  density = toy.TOY_DENSITIES[restored.config.dataset]
  z = tf.random.stateless_normal([args.num_samples, model.latent_dim], [0, 0])
  variants = {"fp32": (model.energy, model.generator), "bf16": (bf16.energy, bf16.generator)}
  out = {"model_dir": args.model_dir, "threads": args.threads}
  for name, (energy, generator) in variants.items():
    chains = mcmc.latent_mala(energy, generator, z, 100, 0.01, prior="gaussian", seed=[0, 1])
    start = np.asarray(generator(z, training=False), np.float64)
    out[name] = {"generate": toy_metrics.sample_statistics(start, density),
                 "sample": toy_metrics.sample_statistics(chains.x.numpy(), density),
                 "acceptance": float(tf.reduce_mean(chains.acceptance_rate))}
  rates = {name: [] for name in variants}
  for _ in range(5):
    for name, (energy, generator) in variants.items():
      start = time.perf_counter()
      mcmc.latent_mala(energy, generator, z, 10, 0.01, prior="gaussian", seed=[0, 2]).z.numpy()
      rates[name].append(10 * args.num_samples / (time.perf_counter() - start))
  for name, values in rates.items():
    out[name]["chain_steps_per_s"] = {"median": statistics.median(values), "min": min(values),
                                      "max": max(values)}
  print(json.dumps(out, default=float))


if __name__ == "__main__":
  main()
