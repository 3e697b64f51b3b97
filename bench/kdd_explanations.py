"""Which raw columns explain the flagged KDD99 test rows, per true label (issue 21).

  python bench/kdd_explanations.py --data_dir=DIR --model_dir=MODEL_DIR
  python bench/kdd_explanations.py --data_dir=DIR --export_dir=EXPORT/scorer/VERSION

Scores the KDD99 test half (the rows evaluation scores: engan_tf.data.tabular.anomaly_split,
split seed 42, `normal.` subsampled to 20% of the half; the same rows as
bench/kdd_test_half_csv.py writes) through the exported scorer's `score_records` signature
(--model_dir: exported to a temporary directory first, as score.py does), and prints a
markdown table, one line per true label:

  rows        test rows with that label
  flagged     rows with is_anomaly (the exported threshold; nonfinite rows count too)
  top_column  the most frequent top_column among the flagged rows, and its share of them
  mean shares the three raw columns with the largest mean column_shares over the flagged
              rows (each share is the column's part of that row's score, as
              engan_tf/serving.py defines it; they sum to 1)

In this protocol `normal.` is the anomaly class (the model is trained on the attack rows):
flagged `normal.` rows are detections, flagged attack rows are false alarms.

Then the same table over the rows NOT flagged (is an explanation specific to the flagged
rows?), and, with --model_dir (the preprocessing is read from it), where the share of each
categorical column lies: on the one-hot feature of the record's own value, or on the
features of the values the record does not have (the `explain` signature's per-feature
shares of the preprocessed records). Since the score-norm split counts a one-hot block's
own value only, the second is nonzero only for rows with an unseen value (whose block keeps
every feature); the table shows that, and how much the categorical columns weigh.

The shares come in the scorer's raw column order, which this script takes from the KDD
schema; every row's top_column is checked against the largest of its shares under that
order (a mismatch stops the script).
"""

import argparse
import collections
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_order(shares, top_column, columns):
  """Raises ValueError unless columns[argmax(shares)] == top_column on every explained row
  (top_column "" marks a row without shares)."""
  top_column = np.asarray(top_column, dtype=object)
  explained = top_column != ""
  if shares.shape[1] != len(columns):
    raise ValueError(f"column_shares has {shares.shape[1]} columns, the schema {len(columns)}")
  named = np.asarray(columns, dtype=object)[np.argmax(shares, axis=1)]
  wrong = np.flatnonzero(explained & (named != top_column))
  if wrong.size:
    i = wrong[0]
    raise ValueError(f"{wrong.size} rows' top_column disagrees with their largest share under "
                     f"the schema's column order (row {i}: {top_column[i]!r} vs {named[i]!r})")


def explanation_table(labels, flagged, top_column, shares, columns, top=3):
  """One dict per label (most rows first): rows, flagged, the most frequent top_column of the
  flagged rows with its share of them, and the `top` largest mean shares over them."""
  labels = np.asarray(labels, dtype=object)
  flagged = np.asarray(flagged, dtype=bool)
  top_column = np.asarray(top_column, dtype=object)
  table = []
  for label, n in collections.Counter(labels.tolist()).most_common():
    mask = (labels == label) & flagged
    row = {"label": label, "rows": int(n), "flagged": int(mask.sum()), "top_column": None,
           "top_column_share": None, "mean_shares": []}
    if mask.any():
      name, count = collections.Counter(top_column[mask].tolist()).most_common(1)[0]
      row["top_column"], row["top_column_share"] = name, count / mask.sum()
      mean = shares[mask].mean(axis=0)
      row["mean_shares"] = [(columns[j], float(mean[j])) for j in np.argsort(-mean)[:top]]
    table.append(row)
  return table


def markdown(table, which="flagged"):
  lines = [f"| true label | test rows | {which} | most frequent top_column "
           f"(share of {which}) | mean column_shares, top 3 ({which} rows) |",
           "|---|---:|---:|---|---|"]
  for row in table:
    flagged = f"{row['flagged']:,} ({row['flagged'] / row['rows']:.1%})"
    if row["top_column"] is None:
      top, mean = "-", "-"
    else:
      top = f"`{row['top_column'] or '(none)'}` ({row['top_column_share']:.1%})"
      mean = ", ".join(f"`{c}` {s:.2f}" for c, s in row["mean_shares"])
    lines.append(f"| `{row['label']}` | {row['rows']:,} | {flagged} | {top} | {mean} |")
  return "\n".join(lines)


def onehot_split(feature_shares, x, membership):
  """(own, other) [batch]: the part of each row's shares on the one-hot features of
  multi-feature (categorical) columns that are on (x > 0.5: the record's own value) and off
  (the values it does not have). membership: [n_features, n_columns] 0/1."""
  categorical = (membership @ (membership.sum(axis=0) > 1).astype(np.float32)) > 0
  on = x > 0.5
  own = (feature_shares * (categorical & on)).sum(axis=1)
  other = (feature_shares * (categorical & ~on)).sum(axis=1)
  return own, other


def onehot_table(labels, flagged, own, other):
  """Markdown: per label, the flagged rows' mean categorical share on own / other values."""
  labels = np.asarray(labels, dtype=object)
  lines = ["| true label | flagged | categorical columns' share on the record's own value "
           "| on the values it does not have |", "|---|---:|---:|---:|"]
  for label, _ in collections.Counter(labels.tolist()).most_common():
    mask = (labels == label) & np.asarray(flagged, dtype=bool)
    if mask.any():
      lines.append(f"| `{label}` | {int(mask.sum()):,} | {own[mask].mean():.3f} "
                   f"| {other[mask].mean():.3f} |")
  return "\n".join(lines)


def categorical_shares(model_dir, scorer_dir, columns, rows, batch_size=8192):
  """onehot_split of `rows` through the model_dir's preprocessing and the `explain`
  signature of its exported scorer (`scorer_dir`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from engan_tf import rundir  # pylint: disable=g-import-not-at-top
  from engan_tf import serving  # pylint: disable=g-import-not-at-top
  description, preprocessing = rundir.RunDir(model_dir).load_data_description()
  raw = {c: tf.as_dtype(d) for c, d in description["raw_feature_spec"]}
  membership = serving.column_map(preprocessing, raw).membership
  explain = tf.saved_model.load(scorer_dir).signatures["explain"]
  own, other = [], []
  for start in range(0, len(rows), batch_size):
    batch = rows[start:start + batch_size]
    feed = {c: tf.constant(columns[c][batch].astype(str) if d == tf.string
                           else columns[c][batch].astype(d.as_numpy_dtype))
            for c, d in raw.items()}
    x = np.asarray(preprocessing(feed), np.float32)
    shares = explain(x=tf.constant(x))["column_shares"].numpy()
    o, t = onehot_split(shares, x, membership)
    own.append(o)
    other.append(t)
  return np.concatenate(own), np.concatenate(other)


def write_scores_png(model_dir, data_dir, checkpoint, path):
  """The final evaluation's score histogram of the model_dir (as training draws it)."""
  from engan_tf import evaluation  # pylint: disable=g-import-not-at-top
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  from engan_tf import visualize  # pylint: disable=g-import-not-at-top
  restored = training.restore(model_dir, data_dir=data_dir, checkpoint=checkpoint)
  result = evaluation.evaluate(restored.model, restored.source, final=True,
                               step=restored.model.step,
                               false_alarm_rate=restored.config.false_alarm_rate)
  visualize.save_png(result.picture, path)


def score_test_half(scorer, columns, rows, batch_size=8192):
  """{is_anomaly, top_column, column_shares} of `rows` of the raw `columns` (numpy)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  spec = {name: value.dtype for name, value in scorer.structured_input_signature[1].items()}
  out = collections.defaultdict(list)
  for start in range(0, len(rows), batch_size):
    batch = rows[start:start + batch_size]
    feed = {c: tf.constant(columns[c][batch].astype(str) if d == tf.string
                           else columns[c][batch].astype(d.as_numpy_dtype))
            for c, d in spec.items()}
    result = scorer(**feed)
    for key in ("is_anomaly", "top_column", "column_shares"):
      out[key].append(result[key].numpy())
  result = {k: np.concatenate(v) for k, v in out.items()}
  result["top_column"] = np.array([t.decode() for t in result["top_column"]], dtype=object)
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", required=True, help="Holds kddcup.data_10_percent.gz.")
  parser.add_argument("--model_dir", help="A trained kddcup99 model_dir.")
  parser.add_argument("--export_dir", help="An exported scorer (export_dir/scorer/<version>).")
  parser.add_argument("--checkpoint", default="latest", choices=("latest", "selected"))
  parser.add_argument("--scores_png", help="With --model_dir: also write the final "
                      "evaluation's score histogram (model_dir/scores.png's picture) here.")
  args = parser.parse_args()
  if args.scores_png and not args.model_dir:
    parser.error("--scores_png needs --model_dir")
  from engan_tf.data import kdd  # pylint: disable=g-import-not-at-top
  from engan_tf.data import tabular  # pylint: disable=g-import-not-at-top
  from engan_tf.tools import score  # pylint: disable=g-import-not-at-top
  schema, columns, is_anomaly = kdd.read(args.data_dir)
  _, test_rows = tabular.anomaly_split(is_anomaly, 42, 0.2)
  names = [c for c in schema.columns if c != "label"]
  with tempfile.TemporaryDirectory() as workdir:
    scorer_dir = args.export_dir
    if args.model_dir:  # exported once, for score_records and explain
      from engan_tf import serving  # pylint: disable=g-import-not-at-top
      scorer_dir = serving.export(args.model_dir, os.path.join(workdir, "export"),
                                  checkpoint=args.checkpoint)["scorer"]
    result = score_test_half(score.load_scorer(export_dir=scorer_dir), columns, test_rows)
    own_other = (categorical_shares(args.model_dir, scorer_dir, columns, test_rows)
                 if args.model_dir else None)
  check_order(result["column_shares"], result["top_column"], names)
  labels = columns["label"][test_rows]
  print(f"{len(test_rows):,} test rows, {int(result['is_anomaly'].sum()):,} flagged "
        f"({result['is_anomaly'].mean():.1%})\n")
  print(markdown(explanation_table(labels, result["is_anomaly"], result["top_column"],
                                   result["column_shares"], names)))
  print("\nThe rows not flagged:\n")
  unflagged = explanation_table(labels, ~result["is_anomaly"], result["top_column"],
                                result["column_shares"], names)
  print(markdown([row for row in unflagged if row["flagged"]], which="not flagged"))
  if args.scores_png:
    write_scores_png(args.model_dir, args.data_dir, args.checkpoint, args.scores_png)
  if own_other is not None:
    own, other = own_other
    print("\nWhere the categorical columns' shares lie (flagged rows):\n")
    print(onehot_table(labels, result["is_anomaly"], own, other))


if __name__ == "__main__":
  main()
