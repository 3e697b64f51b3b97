"""Writes the KDD99 test half (the rows evaluation scores) as a CSV with a header line:
the input of score.py's throughput measurement (bench/results/score_throughput.md).

  python bench/kdd_test_half_csv.py --data_dir=DIR --output=/tmp/kdd_test_half.csv

The split is the training driver's (engan_tf.data.tabular.anomaly_split, split seed 42,
anomalies subsampled to 20% of the half); the label column is kept (score.py passes it
through). Written through tf.io.gfile.
"""

import csv
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_string("data_dir", None, "Holds kddcup.data_10_percent.gz.", required=True)
flags.DEFINE_string("output", None, "Where the CSV goes.", required=True)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from engan_tf.data import kdd  # pylint: disable=g-import-not-at-top
  from engan_tf.data import tabular  # pylint: disable=g-import-not-at-top
  schema, columns, is_anomaly = kdd.read(FLAGS.data_dir)
  _, test_rows = tabular.anomaly_split(is_anomaly, 42, 0.2)
  with tf.io.gfile.GFile(FLAGS.output, "w") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(schema.columns)
    for start in range(0, len(test_rows), 50_000):
      rows = test_rows[start:start + 50_000]
      values = [columns[c][rows] for c in schema.columns]
      writer.writerows(zip(*[[f"{v:g}" if isinstance(v, float) else str(v) for v in column]
                             for column in values]))
  print(f"wrote {len(test_rows)} rows to {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
