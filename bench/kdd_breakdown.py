"""Where KDD99 scores go wrong: the flagged share per attack type, and a 1-NN baseline.

  python bench/kdd_breakdown.py --data_dir=../shared/data/kddcup99 [MODEL_DIR ...]

For each MODEL_DIR (a trained kddcup99 run; its last checkpoint, averaged weights if any)
and each decision function: the rows flagged at the protocol's 80th-percentile threshold,
by their original label. The training half holds every attack type, a few of them only
hundreds of times among 198,000 rows (back, satan, warezclient, ...): an energy that is
smooth over those rare training rows flags their test copies and misses normal rows.

Then the protocol's ceiling for a score that remembers every training row: the squared
distance of each test row to its nearest training row (distinct rows, min-max scaled
features), through the same metrics (precision/recall/F1 at 20% flagged, AUROC, AUPRC).
"""

import argparse
import collections
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from engan_tf import anomaly  # pylint: disable=wrong-import-position
from engan_tf import training  # pylint: disable=wrong-import-position
from engan_tf.data import kdd  # pylint: disable=wrong-import-position
from engan_tf.metrics import anomaly as anomaly_metrics  # pylint: disable=wrong-import-position


def nearest_training_row_distance(x_train, x_test, batch=2048):
  """min_j ||x_test_i - x_train_j||^2 over the distinct training rows, per test row."""
  train = tf.constant(np.unique(x_train, axis=0).astype(np.float32))
  train_sq = tf.reduce_sum(train ** 2, 1)
  queries, inverse = np.unique(x_test.astype(np.float32), axis=0, return_inverse=True)
  out = []
  for i in range(0, len(queries), batch):
    q = tf.constant(queries[i:i + batch])
    d = tf.reduce_sum(q ** 2, 1)[:, None] - 2.0 * q @ tf.transpose(train) + train_sq[None]
    out.append(tf.reduce_min(d, 1).numpy())
  return np.maximum(np.concatenate(out), 0.0)[inverse.ravel()]


def breakdown(labels, scores, train_counts, top=12):
  flagged = anomaly_metrics.at_share(labels == kdd.ANOMALY_LABEL, scores)
  is_flagged = scores > flagged["threshold"]  # rows tied at the threshold are not counted
  print(f"    F1 {flagged['f1']:.4f}, flagged {is_flagged.mean():.4f} above the threshold")
  rows = sorted(((is_flagged[labels == name].sum(), name) for name in set(labels)),
                reverse=True)
  for count, name in rows[:top]:
    total = int((labels == name).sum())
    print(f"    {name:18s} test {total:7d}  train {train_counts.get(name, 0):7d}  "
          f"flagged {count:6d} ({count / total:.3f})")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("model_dirs", nargs="*")
  args = parser.parse_args()
  schema, columns, is_anomaly = kdd.read(args.data_dir)
  source = kdd.source_from_table(schema, columns, is_anomaly)
  data = source.anomaly
  labels = np.asarray(columns["label"])[data.test_rows]
  train_counts = collections.Counter(np.asarray(columns["label"])[data.train_rows])
  y = data.y_test
  for model_dir in args.model_dirs:
    model = training.restore(model_dir, source=source).model
    for name, scores in anomaly.score(model.energy, data.x_test).items():
      print(f"{model_dir} {name}:")
      breakdown(labels, scores, train_counts)
  distance = nearest_training_row_distance(data.x_train, data.x_test)
  summary = anomaly_metrics.summary(y, distance)
  print("1-NN squared distance to the training rows: " + ", ".join(
      f"{k} {summary[k]:.4f}" for k in ("precision", "recall", "f1", "auroc", "auprc")))
  breakdown(labels, distance, train_counts)


if __name__ == "__main__":
  main()
