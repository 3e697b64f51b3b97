"""Throughput of the MALA sampler (engan_tf.mcmc) in chain-steps per second, beside PyTorch.

One chain-step = one MALA transition of one chain: a forward and backward pass of E(G(z))
(latent space) or E(x) (data space) plus tfp's accept/reject. Networks are freshly
initialised (throughput does not depend on the weights). Each row: one untimed call
(tracing), then `--repeats` timed calls of `--steps` steps; the median and min-max are
reported. The latent rows also time a plain PyTorch MALA of the same networks
(bench/torch_reference.py: TorchLatentMALA on toy_networks / dcgan28_networks, same chains
and steps) when torch is importable, alternating one TF call and one PyTorch call per
repeat, so both see the same machine state; the ratio is of the medians.

  taskset -c 0 python bench/bench_mcmc.py --threads=1      # table + bench/results/bench_mcmc.json
  python bench/bench_mcmc.py --toy_chains=10000 --image_chains=1000 --steps=20
  taskset -c 0 python bench/bench_mcmc.py --threads=1 --xla   # + the sampler under XLA
  python bench/bench_mcmc.py --threads=2 --bf16   # + the networks in bfloat16 compute
"""

import json
import os
import statistics
import sys
import time

from absl import app
from absl import flags

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import machine  # noqa: E402

flags.DEFINE_integer("toy_chains", 10000, "Chains for the toy (2-D, latent 2) generator "
                     "(0: skip the toy rows).")
flags.DEFINE_integer("image_chains", 1000, "Chains for the 28x28 dcgan28 generator (0: skip).")
flags.DEFINE_integer("image_latent_dim", 100, "Latent size of the 28x28 generator.")
flags.DEFINE_integer("steps", 20, "MALA steps per timed call.")
flags.DEFINE_integer("repeats", 5, "Timed calls per row.")
flags.DEFINE_integer("threads", 0, "Threads for TensorFlow and PyTorch (0: their defaults).")
flags.DEFINE_bool("torch", True, "Time the PyTorch MALA beside the latent rows.")
flags.DEFINE_bool("xla", False, "Also time the latent rows with the sampler's graph compiled "
                  "by XLA (tf.function(jit_compile=True); the library's sampler does not).")
flags.DEFINE_bool("bf16", False, "Also time the latent rows with the networks built under "
                  "Keras' mixed_bfloat16 policy (bfloat16 compute, float32 variables and "
                  "outputs; the library's sampler runs the networks it is given).")
flags.DEFINE_string("output", os.path.join(HERE, "results", "bench_mcmc.json"),
                    "JSON output path.")
FLAGS = flags.FLAGS


def _rates(calls, chains, repeats):
  """Alternates the timed calls (one of each per repeat) after one untimed call of each;
  returns one list of chain-steps/s per call."""
  for seconds in calls:
    seconds()
  samples = [[] for _ in calls]
  for _ in range(repeats):
    for rates, seconds in zip(samples, calls):
      rates.append(chains * FLAGS.steps / seconds())
  return samples


def _summary(rates):
  return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
          "samples": rates}


def main(argv):
  del argv
  import keras
  import tensorflow as tf

  from engan_tf import mcmc
  from engan_tf import networks

  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  torch_reference = None
  if FLAGS.torch:
    try:
      import torch
      import torch_reference
      if FLAGS.threads:
        torch.set_num_threads(FLAGS.threads)
    except ImportError as e:
      print(f"PyTorch MALA skipped: {e}")
  cases = [
      ("toy mlp512, latent 2", "latent", "mlp512", (2,), 2, FLAGS.toy_chains),
      ("toy mlp512, data space", "data", "mlp512", (2,), 2, FLAGS.toy_chains),
      (f"28x28 dcgan28, latent {FLAGS.image_latent_dim}", "latent", "dcgan28",
       (28, 28, 1), FLAGS.image_latent_dim, FLAGS.image_chains),
  ]
  rows = []
  for name, space, family, shape, latent_dim, chains in cases:
    if not chains:  # --image_chains=0 (or --toy_chains=0) skips those rows
      continue
    energy, generator, _ = networks.build_networks(family, shape, latent_dim)
    z = tf.random.stateless_normal([chains, latent_dim], [0, 0])

    def timed(fn):
      def seconds():
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
      return seconds

    if space == "latent":
      calls = [timed(lambda: mcmc.latent_mala(energy, generator, z, FLAGS.steps, 0.01,
                                              seed=1).z.numpy())]
      if FLAGS.xla:
        # The library's own sampler graph, compiled by XLA (pylint: protected-access).
        xla_graph = tf.function(mcmc._mala_graph.python_function, jit_compile=True)
        xla_args = (energy, generator, z, tf.constant(FLAGS.steps), tf.constant(0.01),
                    tf.constant(1.0), "none", tf.constant([1, 0]))
        calls.append(timed(lambda: xla_graph(*xla_args)[0].numpy()))
      if FLAGS.bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
          energy16, generator16, _ = networks.build_networks(family, shape, latent_dim)
        finally:
          keras.mixed_precision.set_global_policy("float32")
        calls.append(timed(lambda: mcmc.latent_mala(energy16, generator16, z, FLAGS.steps,
                                                    0.01, seed=1).z.numpy()))
      if torch_reference is not None:
        nets = (torch_reference.toy_networks(latent_dim) if family == "mlp512"
                else torch_reference.dcgan28_networks(latent_dim))
        reference = torch_reference.TorchLatentMALA(*nets, torch.randn(chains, latent_dim))
        calls.append(lambda: reference.seconds(FLAGS.steps))
    else:
      x = generator(z, training=False)
      calls = [timed(lambda: mcmc.data_mala(energy, x, FLAGS.steps, 0.01, seed=1).x.numpy())]
    samples = _rates(calls, chains, FLAGS.repeats)
    row = {"case": name, "space": space, "networks": family, "chains": chains,
           "steps": FLAGS.steps, "chain_steps_per_s": _summary(samples.pop(0))}
    if FLAGS.xla and space == "latent":
      row["xla_chain_steps_per_s"] = _summary(samples.pop(0))
      row["xla_vs_graph"] = (row["xla_chain_steps_per_s"]["median"]
                             / row["chain_steps_per_s"]["median"])
    if FLAGS.bf16 and space == "latent":
      row["bf16_chain_steps_per_s"] = _summary(samples.pop(0))
    if samples:
      row["torch_chain_steps_per_s"] = _summary(samples[0])
      row["ratio_vs_torch"] = (row["chain_steps_per_s"]["median"]
                               / row["torch_chain_steps_per_s"]["median"])
    rows.append(row)
    print(f"{name:<36} {chains:>7} chains  {row['chain_steps_per_s']['median']:>12,.0f} "
          "chain-steps/s" + (f" (XLA {row['xla_vs_graph']:.2f}x)" if "xla_vs_graph" in row
                             else ""))

  report = {"rows": rows, "machine": machine.describe(), "threads": FLAGS.threads,
            "tensorflow": tf.__version__}
  os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
  with open(FLAGS.output, "w") as f:
    json.dump(report, f, indent=2)
  print(machine.line() + f"; threads {FLAGS.threads or 'default'}")
  print("| case | chains | steps | engan-tf chain-steps/s median (min-max) | PyTorch | ratio |")
  print("|---|---:|---:|---|---|---|")
  for r in rows:
    tf_rate, torch_rate = r["chain_steps_per_s"], r.get("torch_chain_steps_per_s")
    print(f"| {r['case']} | {r['chains']} | {r['steps']} | {tf_rate['median']:,.0f} "
          f"({tf_rate['min']:,.0f}-{tf_rate['max']:,.0f}) | "
          + (f"{torch_rate['median']:,.0f} ({torch_rate['min']:,.0f}-{torch_rate['max']:,.0f})"
             f" | {r['ratio_vs_torch']:.2f} |" if torch_rate else "- | - |"))
    if "bf16_chain_steps_per_s" in r:
      bf16 = r["bf16_chain_steps_per_s"]
      print(f"| {r['case']}, bfloat16 | {r['chains']} | {r['steps']} | {bf16['median']:,.0f} "
            f"({bf16['min']:,.0f}-{bf16['max']:,.0f}) | "
            + (f"{torch_rate['median']:,.0f} | {bf16['median'] / torch_rate['median']:.2f} |"
               if torch_rate else "- | - |"))
  print(f"written to {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
