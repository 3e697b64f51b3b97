"""Evaluates a trained model_dir (its last checkpoint) with its data set's evaluator.

  python evaluate.py --model_dir=runs/kdd_s0 [--data_dir=DIR] [--checkpoint=selected]

For the anomaly data sets (kddcup99, csv, mnist_anomaly) this scores the held-out test set
with both decision functions (score norm ||grad_x E(x)||^2 and energy E(x)): precision,
recall, F1 with the top 20% flagged, the share flagged, AUROC, AUPRC; it refits the anomaly
threshold on training scores and writes model_dir/anomaly_threshold.json (read by
`engan_tf.training.restore` and the exporter) and model_dir/evaluate.json (the metrics).
"""

import json
import os
import sys

from absl import app
from absl import flags

from engan_tf import cli

cli.define_model_dir_flags()
FLAGS = flags.FLAGS


def main(argv):
  cli.start(argv)
  from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
  from engan_tf import evaluation  # pylint: disable=g-import-not-at-top
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  try:
    config, source, model = training.restore(FLAGS.model_dir, data_dir=FLAGS.data_dir,
                                             checkpoint=FLAGS.checkpoint)
  except (ValueError, FileNotFoundError) as e:
    print(f"evaluate.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  step = int(model.g_optimizer.iterations.numpy())
  result = evaluation.evaluate(model, source, final=True)
  if FLAGS.checkpoint == "latest":  # anomaly_threshold.json belongs to the last checkpoint
    anomaly.save_threshold(source, FLAGS.model_dir, step)
  record = {"step": step, "dataset": config.dataset, "checkpoint": FLAGS.checkpoint,
            **result.metrics}
  filename = "evaluate.json" if FLAGS.checkpoint == "latest" else "evaluate_selected.json"
  with open(os.path.join(FLAGS.model_dir, filename), "w") as f:
    json.dump(record, f, indent=2, sort_keys=True)
  for name, value in sorted(result.metrics.items()):
    print(f"{name} = {value:.6g}")
  print(f"wrote {FLAGS.model_dir}/{filename}")


if __name__ == "__main__":
  app.run(main)
