"""Scorer latency (batch 1) and throughput (batch 1,024) through the exported SavedModel.

Exports an untrained model of each shape (timing does not depend on the weights): the toy
shape [2] (mlp512 networks, the toy default) and the KDD99 shape [121] (kdd networks), loads
each scorer with tf.saved_model.load and times its serving_default signature (E(x) and
||grad_x E(x)||^2).

  python bench/bench_scorer.py --output=bench/scorer.json
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
FLAGS = flags.FLAGS

# (name, networks, data_shape, latent_dim)
CASES = (("toy", "mlp512", (2,), 2), ("kdd", "kdd", (121,), 32))


def _timed_calls(fn, x, calls, warmup):
  for _ in range(warmup):
    fn(x=x)["energy"].numpy()
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    fn(x=x)["energy"].numpy()  # .numpy(): wait for the result
    times.append(time.perf_counter() - start)
  return times


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
  path = export_lib.export_model(model, source, os.path.join(export_root, name), 1)["scorer"]
  score = tf.saved_model.load(path).signatures["serving_default"]
  x1 = tf.random.stateless_normal([1, *data_shape], [0, 1])
  x1024 = tf.random.stateless_normal([1024, *data_shape], [0, 2])
  latency = np.array(_timed_calls(score, x1, FLAGS.latency_calls, FLAGS.warmup_calls))
  batch = np.array(_timed_calls(score, x1024, FLAGS.throughput_calls, FLAGS.warmup_calls // 4))
  return {
      "model": name, "networks": networks_name, "data_shape": list(data_shape),
      "batch1_latency_ms_p50": float(np.median(latency) * 1e3),
      "batch1_latency_ms_p90": float(np.percentile(latency, 90) * 1e3),
      "batch1024_ms_p50": float(np.median(batch) * 1e3),
      "batch1024_examples_per_s": float(1024 / np.median(batch)),
  }


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as export_root:
    results = [bench_case(*case, export_root) for case in CASES]
  header = (f"{'model':6} {'shape':>7} {'b=1 p50 ms':>11} {'b=1 p90 ms':>11} "
            f"{'b=1024 ms':>10} {'b=1024 ex/s':>12}")
  print(header)
  for r in results:
    print(f"{r['model']:6} {str(r['data_shape']):>7} {r['batch1_latency_ms_p50']:11.3f} "
          f"{r['batch1_latency_ms_p90']:11.3f} {r['batch1024_ms_p50']:10.2f} "
          f"{r['batch1024_examples_per_s']:12.0f}")
  summary = {"device": [d.name for d in tf.config.list_logical_devices()],
             "cpu_count": os.cpu_count(),
             "load_average_1min": os.getloadavg()[0], "tensorflow": tf.__version__, "results": results}
  with open(FLAGS.output, "w") as f:
    json.dump(summary, f, indent=2)
  print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
