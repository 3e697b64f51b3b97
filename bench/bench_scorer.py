"""Latency and throughput through the exported SavedModels: the scorer and the sampler.

Exports an untrained model of each shape (timing does not depend on the weights): the toy
shape [2] (mlp512 networks, the toy default) and the KDD99 shape [121] (kdd networks), loads
each with tf.saved_model.load and times
  the scorer's serving_default (E(x) and ||grad_x E(x)||^2) at batch 1 and 1,024;
  the sampler's `sample` signature (latent MALA, --sample_steps steps of alpha 0.01, then
  x = G(z_T)) for 1 and 1,000 chains (toy only: the issue's sampler latency).

  python bench/bench_scorer.py --output=bench/scorer.json
  python bench/bench_scorer.py --samplers=EXP32/sampler/5000,EXP16/sampler/5000 --output=...
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_string("output", "bench_scorer.json", "Where the JSON results go.")
flags.DEFINE_integer("latency_calls", 500, "Timed batch-1 calls per model.")
flags.DEFINE_integer("throughput_calls", 50, "Timed batch-1,024 calls per model.")
flags.DEFINE_integer("warmup_calls", 20, "Untimed calls before each measurement.")
flags.DEFINE_integer("sample_steps", 100, "Latent MALA steps per `sample` call.")
flags.DEFINE_integer("sample_calls", 20, "Timed `sample` calls per chain count.")
flags.DEFINE_list("samplers", [], "Exported sampler/<version> dirs (e.g. of trained models, "
                  "float32 and `export.py --sampler_mixed_precision`): time only their "
                  "`sample` signature, instead of exporting untrained models.")
FLAGS = flags.FLAGS

# (name, networks, data_shape, latent_dim)
CASES = (("toy", "mlp512", (2,), 2), ("kdd", "kdd", (121,), 32))


def _timed_calls(fn, inputs, calls, warmup, output="energy"):
  """Seconds of each of `calls` calls fn(**inputs), after `warmup` untimed ones."""
  for _ in range(warmup):
    fn(**inputs)[output].numpy()
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    fn(**inputs)[output].numpy()  # .numpy(): wait for the result
    times.append(time.perf_counter() - start)
  return times


def _sampler_latency(sampler_path, latent_dim):
  """{chains: p50 / p90 ms} of the exported `sample` signature."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  sample = tf.saved_model.load(sampler_path).signatures["sample"]
  out = {}
  for chains in (1, 1000):
    z = tf.random.stateless_normal([chains, latent_dim], [0, 3])
    inputs = {"z": z, "mcmc_steps": tf.constant(FLAGS.sample_steps),
              "step_size": tf.constant(0.01)}
    times = np.array(_timed_calls(sample, inputs, FLAGS.sample_calls, 3, output="x"))
    out[str(chains)] = {"p50_ms": float(np.median(times) * 1e3),
                        "p90_ms": float(np.percentile(times, 90) * 1e3),
                        "chain_steps_per_s": float(chains * FLAGS.sample_steps
                                                   / np.median(times))}
  return out


def bench_case(name, networks_name, data_shape, latent_dim, export_root):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from engan_tf import data as data_lib  # pylint: disable=g-import-not-at-top
  from engan_tf import serving as export_lib  # pylint: disable=g-import-not-at-top
  from engan_tf import model as model_lib  # pylint: disable=g-import-not-at-top
  from engan_tf import networks  # pylint: disable=g-import-not-at-top

  model = model_lib.EnGAN(*networks.build_networks(networks_name, data_shape, latent_dim),
                          latent_dim=latent_dim)
  source = data_lib.DataSource(name, "tabular", data_shape, train_dataset=None)
  paths = export_lib.export_model(model, source, os.path.join(export_root, name), 1)
  score = tf.saved_model.load(paths["scorer"]).signatures["serving_default"]
  x1 = tf.random.stateless_normal([1, *data_shape], [0, 1])
  x1024 = tf.random.stateless_normal([1024, *data_shape], [0, 2])
  latency = np.array(_timed_calls(score, {"x": x1}, FLAGS.latency_calls, FLAGS.warmup_calls))
  batch = np.array(_timed_calls(score, {"x": x1024}, FLAGS.throughput_calls,
                                FLAGS.warmup_calls // 4))
  sampler = _sampler_latency(paths["sampler"], latent_dim) if name == "toy" else None
  return {
      "model": name, "networks": networks_name, "data_shape": list(data_shape),
      "sample_steps": FLAGS.sample_steps, "sample_latency": sampler,
      "batch1_latency_ms_p50": float(np.median(latency) * 1e3),
      "batch1_latency_ms_p90": float(np.percentile(latency, 90) * 1e3),
      "batch1024_ms_p50": float(np.median(batch) * 1e3),
      "batch1024_examples_per_s": float(1024 / np.median(batch)),
  }


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if FLAGS.samplers:
    sample_latency = {}
    for path in FLAGS.samplers:
      signature = tf.saved_model.load(path).signatures["sample"]
      latent_dim = int(signature.structured_input_signature[1]["z"].shape[-1])
      sample_latency[path] = _sampler_latency(path, latent_dim)
      for chains, t in sample_latency[path].items():
        print(f"{path} sample, {chains} chain(s) x {FLAGS.sample_steps} MALA steps: p50 "
              f"{t['p50_ms']:.1f} ms, p90 {t['p90_ms']:.1f} ms "
              f"({t['chain_steps_per_s']:,.0f} chain-steps/s)")
    with open(FLAGS.output, "w") as f:
      json.dump({"cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
                 "sample_steps": FLAGS.sample_steps, "sample_latency": sample_latency}, f,
                indent=2)
    print(f"wrote {FLAGS.output}")
    return
  with tempfile.TemporaryDirectory() as export_root:
    results = [bench_case(*case, export_root) for case in CASES]
  header = (f"{'model':6} {'shape':>7} {'b=1 p50 ms':>11} {'b=1 p90 ms':>11} "
            f"{'b=1024 ms':>10} {'b=1024 ex/s':>12}")
  print(header)
  for r in results:
    print(f"{r['model']:6} {str(r['data_shape']):>7} {r['batch1_latency_ms_p50']:11.3f} "
          f"{r['batch1_latency_ms_p90']:11.3f} {r['batch1024_ms_p50']:10.2f} "
          f"{r['batch1024_examples_per_s']:12.0f}")
    for chains, t in (r["sample_latency"] or {}).items():
      print(f"{r['model']:6} sample, {chains} chain(s) x {r['sample_steps']} MALA steps: "
            f"p50 {t['p50_ms']:.1f} ms, p90 {t['p90_ms']:.1f} ms "
            f"({t['chain_steps_per_s']:,.0f} chain-steps/s)")
  summary = {"device": [d.name for d in tf.config.list_logical_devices()],
             "cpu_count": os.cpu_count(),
             "load_average_1min": os.getloadavg()[0], "tensorflow": tf.__version__, "results": results}
  with open(FLAGS.output, "w") as f:
    json.dump(summary, f, indent=2)
  print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
