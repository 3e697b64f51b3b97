"""Throughput of the MALA sampler (engan_tf.mcmc) in chain-steps per second.

One chain-step = one MALA transition of one chain: a forward and backward pass of E(G(z))
(latent space) or E(x) (data space) plus tfp's accept/reject. Networks are freshly
initialised (throughput does not depend on the weights). Each row: one untimed call
(tracing), then `--repeats` timed calls of `--steps` steps; the best time is reported.

  python bench/bench_mcmc.py                        # table + bench/results/bench_mcmc.json
  python bench/bench_mcmc.py --toy_chains=10000 --image_chains=1000 --steps=20

The 28x28 generator is the registered conv family "dcgan28" when it exists, otherwise an
MLP ("mlp512": 3 x 512 hidden units, 784 outputs); the table says which.
"""

import json
import os
import platform
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_integer("toy_chains", 10000, "Chains for the toy (2-D, latent 2) generator.")
flags.DEFINE_integer("image_chains", 1000, "Chains for the 28x28 generator.")
flags.DEFINE_integer("image_latent_dim", 100, "Latent size of the 28x28 generator.")
flags.DEFINE_integer("steps", 20, "MALA steps per timed call.")
flags.DEFINE_integer("repeats", 3, "Timed calls per row (best is reported).")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "results", "bench_mcmc.json"), "JSON output path.")
FLAGS = flags.FLAGS


def _time(fn, repeats):
  fn()  # trace
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def main(argv):
  del argv
  import tensorflow as tf

  from engan_tf import mcmc
  from engan_tf import networks

  image_family = "dcgan28" if "dcgan28" in networks.network_names() else "mlp512"
  cases = [
      ("toy mlp512, latent 2", "latent", "mlp512", (2,), 2, FLAGS.toy_chains),
      ("toy mlp512, data space", "data", "mlp512", (2,), 2, FLAGS.toy_chains),
      (f"28x28 {image_family}, latent {FLAGS.image_latent_dim}", "latent", image_family,
       (28, 28, 1), FLAGS.image_latent_dim, FLAGS.image_chains),
  ]
  rows = []
  for name, space, family, shape, latent_dim, chains in cases:
    energy, generator, _ = networks.build_networks(family, shape, latent_dim)
    z = tf.random.stateless_normal([chains, latent_dim], [0, 0])
    if space == "latent":
      run = lambda: mcmc.latent_mala(energy, generator, z, FLAGS.steps, 0.01,
                                     seed=1).z.numpy()
    else:
      x = generator(z, training=False)
      run = lambda: mcmc.data_mala(energy, x, FLAGS.steps, 0.01, seed=1).x.numpy()
    seconds = _time(run, FLAGS.repeats)
    rows.append({"case": name, "space": space, "networks": family, "chains": chains,
                 "steps": FLAGS.steps, "seconds": seconds,
                 "chain_steps_per_s": chains * FLAGS.steps / seconds})
    print(f"{name:<36} {chains:>7} chains  {rows[-1]['chain_steps_per_s']:>12,.0f} chain-steps/s")

  device = ", ".join(d.device_type for d in tf.config.list_logical_devices()) or "CPU"
  report = {"rows": rows, "device": device, "machine": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "tensorflow": tf.__version__}
  os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
  with open(FLAGS.output, "w") as f:
    json.dump(report, f, indent=2)
  print(f"| case | chains | steps | chain-steps/s |\n|---|---:|---:|---:|")
  for r in rows:
    print(f"| {r['case']} | {r['chains']} | {r['steps']} | {r['chain_steps_per_s']:,.0f} |")
  print(f"written to {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
