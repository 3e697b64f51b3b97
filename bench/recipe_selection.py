r"""Selecting the default tabular recipe (engan_tf/recipes.py) without test labels (issue 17).

  PYTHONPATH=. python bench/recipe_selection.py --candidates=default,ema_short \
      --dev_sets=breast_cancer,wine,digits_1 \
      --selection_output=bench/results/recipe_selection.json
  # the table of what is in the JSON (criterion only; --show_test adds the test record):
  PYTHONPATH=. python bench/recipe_selection.py --report_only

Each candidate is a set of TrainConfig values given to `engan_tf.AnomalyDetector(config=...)`
on top of the default recipe (an empty set is the recipe itself). For every development
set of bench/anomaly_suite.py (its builders, imported) engan-tf is fit on `x_train` only
(the detector holds out its own 20% of those rows, as `train.py --dataset=csv` does) and
scored on rows it never saw:

The selection criterion (label-free; written down before any candidate was run)
---------------------------------------------------------------------------------
On the suite's held-out normal rows `x_val` (10% of the normal training rows, never fit
on, not even by the detector's own threshold) and two kinds of synthetic anomalies made
from normal rows only (seeded, the same rows for every candidate; K copies per x_val row,
K = max(10, ceil(500 / len(x_val)))):

  * full shuffle: every column drawn independently from the values of that column in
    x_train (the product of the training marginals; what `val_auroc_shuffled` does with
    x_val's own columns, with more rows than the 6 of a wine x_val);
  * partial resample: an x_val row whose values in a random 30% of the columns (at least
    one) are replaced by those of one random x_train row: a plausible row with a broken
    dependency, closer to the data than a full shuffle.

  criterion(set) = (AUROC(x_val vs full shuffle) + AUROC(x_val vs partial resample)) / 2
  criterion      = mean over the families (breast_cancer; wine_*; digits_*) of the mean
                   over each family's sets

for the decision function the detector chooses itself (`decision_function_`, label-free on
its own validation rows); the same for "energy" and "score_norm" forced are recorded too.
Secondary, label-free: the share of x_val rows the detector's `predict` flags (its
threshold flags 5% of its own held-out rows; pooled over the dev sets). A candidate whose
pooled x_val false-alarm rate is above 10% is not chosen. Candidates within 0.005 of the
best criterion are treated as tied; the tie goes to the one closer to the current recipe.

For the record only (never used to choose), the same run also computes the test AUROC,
AUPRC, F1 and @val95 recall / false alarm of engan (each decision function) and of
IsolationForest and k-NN, through the suite's own detectors and metrics. The test numbers
are stored in the JSON and printed only with --show_test.
"""

import math
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import anomaly_suite as suite  # pylint: disable=g-import-not-at-top,wrong-import-position
from selection_common import (DECISION_FUNCTIONS, anomaly_score_fns, auroc,  # pylint: disable=g-import-not-at-top,wrong-import-position
                              family_mean, load, save)

# Each candidate: TrainConfig values on top of the recipe (the reasons are in BUILD_NOTES).
CANDIDATES = {
    "default": {},
    # The weight average starts at the initial weights (engan_tf/averaging.py): after the
    # recipe's 1,000 steps at decay 0.999, 0.999^1000 = 37% of the averaged energy is still
    # the random initialisation. 0.99: the average of about the last 100 steps.
    "ema_short": {"ema_decay": 0.99},
    # Score penalty 10x weaker / stronger than the paper's 0.1 (it sets the energy's
    # temperature: weaker -> sharper, more local wells; stronger -> smoother energy).
    "ema_short_lambda0.01": {"ema_decay": 0.99, "lambda_penalty": 0.01},
    "ema_short_lambda1": {"ema_decay": 0.99, "lambda_penalty": 1.0},
    # A linear head on a smooth (swish) trunk instead of the quadratic bowl: several wells
    # can form (a bowl is one global well, as Deep SVDD's sphere).
    "ema_short_swish": {"ema_decay": 0.99, "networks": "kdd_swish_energy"},
    # Not run (compute): narrower networks (64 units everywhere) for tables of a few
    # hundred rows, and longer training.
    "ema_short_dim64": {"ema_decay": 0.99, "dim": 64},
    # Round 2 (after round 1's criterion: a weaker penalty and the swish trunk led); only
    # ema_short_lambda0.001 was run (compute).
    "ema_short_lambda0.001": {"ema_decay": 0.99, "lambda_penalty": 0.001},
    "ema_short_swish_lambda0.01": {"ema_decay": 0.99, "networks": "kdd_swish_energy",
                                   "lambda_penalty": 0.01},
    "ema_short_3000": {"ema_decay": 0.997, "train_steps": 3000},
}

flags.DEFINE_list("candidates", ["default"], "Candidates to run (names of CANDIDATES).")
flags.DEFINE_list("dev_sets", ["breast_cancer", "wine", "digits_1"],
                  "Development sets (suite names or groups); the selection of issue 17 used "
                  "these (digits_3, 5, 8 were planned and cut for compute).")
flags.DEFINE_integer("seed", 0, "Detector seed.")
flags.DEFINE_string("selection_output", "bench/results/recipe_selection.json",
                    "JSON results; existing records of other (candidate, set, seed) are kept.")
flags.DEFINE_bool("report_only", False, "Run nothing: print the tables of --selection_output.")
flags.DEFINE_bool("show_test", False, "Also print the test-set record (never used to choose).")
flags.DEFINE_bool("baselines", True, "Also fit iforest and knn (for the record).")
FLAGS = flags.FLAGS

PARTIAL_SHARE = 0.3


def synthetic_anomalies(ds, seed):
  """(full shuffle rows, partial resample rows), made from normal rows only (see docstring)."""
  rng = np.random.RandomState(seed)
  m, d = ds.x_val.shape
  k = max(10, math.ceil(500 / m))
  n = m * k
  full = ds.x_train[rng.randint(len(ds.x_train), size=(n, d)), np.arange(d)[None, :]]
  partial = np.repeat(ds.x_val, k, axis=0)
  donors = ds.x_train[rng.randint(len(ds.x_train), size=n)]
  n_cols = max(1, int(round(PARTIAL_SHARE * d)))
  for i in range(n):
    cols = rng.choice(d, n_cols, replace=False)
    partial[i, cols] = donors[i, cols]
  return full.astype(np.float32), partial.astype(np.float32)


def criterion_of(score_fn, ds, full, partial):
  val = score_fn(ds.x_val)
  a_full, a_partial = auroc(val, score_fn(full)), auroc(val, score_fn(partial))
  return {"auroc_full_shuffle": a_full, "auroc_partial": a_partial,
          "criterion": 0.5 * (a_full + a_partial)}


def run_engan(ds, candidate, seed, full, partial):
  """One fit of engan-tf with the candidate's values: criterion and (record) test metrics."""
  params = {"config": dict(CANDIDATES[candidate])} if CANDIDATES[candidate] else {}
  det = suite.EnganDetector(seed, None, params)
  start = time.perf_counter()
  det.fit(ds.x_train)
  fit_s = time.perf_counter() - start
  model = det.model
  chosen = model.decision_function_
  record = {"candidate": candidate, "dataset": ds.name, "seed": seed, "fit_s": round(fit_s, 1),
            "chosen": chosen, "values": CANDIDATES[candidate],
            "val_false_alarm": float(np.mean(model.predict(ds.x_val) == -1)),
            "n_val": len(ds.x_val),
            "test_is_anomaly_recall": float(np.mean(model.predict(ds.x_test)[ds.y_test == 1]
                                                    == -1)),
            "test_is_anomaly_false_alarm": float(np.mean(
                model.predict(ds.x_test)[ds.y_test == 0] == -1))}
  for name, score_fn in anomaly_score_fns(model).items():
    crit = criterion_of(score_fn, ds, full, partial)
    test = suite.evaluate_scores(ds.y_test, score_fn(ds.x_test), score_fn(ds.x_val))
    record[name] = {**crit, "test": test}
  record["auto"] = record[chosen]
  return record


def run_baseline(ds, name, seed, full, partial):
  det = suite.make_detector(name, seed, None)
  score_fn = det.fit(ds.x_train)
  crit = criterion_of(score_fn, ds, full, partial)
  test = suite.evaluate_scores(ds.y_test, score_fn(ds.x_test), score_fn(ds.x_val))
  return {"candidate": name, "dataset": ds.name, "seed": seed, "baseline": True,
          "auto": {**crit, "test": test}}


def report(data, show_test=False):
  """Markdown: criterion per candidate and set (and the test record with show_test)."""
  records = data["records"]
  names = list(dict.fromkeys(r["candidate"] for r in records))
  sets = list(dict.fromkeys(r["dataset"] for r in records))
  by = {(r["candidate"], r["dataset"]): r for r in records}
  lines = ["Label-free criterion (mean of AUROC x_val vs full shuffle and vs partial "
           "resample), the detector's own decision function [energy / score norm forced]; "
           "pooled x_val false-alarm of predict()", "",
           "| candidate | " + " | ".join(sets) + " | **criterion** (family mean) | "
           "energy forced | score norm forced | x_val false alarm | fit s (mean) |",
           "|---|" + "---|" * (len(sets) + 5)]
  for c in names:
    cells, crit = [], {}
    for s in sets:
      r = by.get((c, s))
      if r is None:
        cells.append("-")
        continue
      crit[s] = r["auto"]["criterion"]
      tag = "" if r.get("baseline") else (" E" if r["chosen"] == "energy" else " S")
      cells.append(f"{crit[s]:.3f}{tag}")
    complete = len(crit) == len(sets)
    rows = [by[(c, s)] for s in sets if (c, s) in by]
    engan = rows and not rows[0].get("baseline")
    forced = ["-", "-"]
    fa, fit = "-", "-"
    if engan:
      forced = [f"{family_mean({r['dataset']: r[n]['criterion'] for r in rows}):.3f}"
                for n in DECISION_FUNCTIONS]
      flagged = sum(r["val_false_alarm"] * r["n_val"] for r in rows)
      fa = f"{flagged / sum(r['n_val'] for r in rows):.3f}"
      fit = f"{np.mean([r['fit_s'] for r in rows]):.0f}"
    lines.append(f"| {c} | " + " | ".join(cells) +
                 f" | **{family_mean(crit):.3f}**{'' if complete else ' (partial)'} | "
                 f"{forced[0]} | {forced[1]} | {fa} | {fit} |")
  lines.append("")
  lines.append("(E / S: the decision function the detector chose on its own validation rows.)")
  if show_test:
    lines += ["", "Test record (never used to choose): AUROC of the detector's own decision "
              "function [energy / score norm]", "",
              "| candidate | " + " | ".join(sets) + " | family mean | energy | score norm |",
              "|---|" + "---|" * (len(sets) + 3)]
    for c in names:
      rows = {s: by[(c, s)] for s in sets if (c, s) in by}
      cells = [f"{rows[s]['auto']['test']['auroc']:.3f}" if s in rows else "-" for s in sets]
      engan = rows and not next(iter(rows.values())).get("baseline")
      extra = ["-", "-"]
      if engan:
        extra = [f"{family_mean({s: r[n]['test']['auroc'] for s, r in rows.items()}):.3f}"
                 for n in DECISION_FUNCTIONS]
      lines.append(f"| {c} | " + " | ".join(cells) + " | " +
                   f"{family_mean({s: r['auto']['test']['auroc'] for s, r in rows.items()}):.3f}"
                   + f" | {extra[0]} | {extra[1]} |")
  return "\n".join(lines)


def main(argv):
  del argv
  data = load(FLAGS.selection_output)
  if FLAGS.report_only:
    print(report(data, FLAGS.show_test))
    return
  data.setdefault("cpu", suite.cpu_model())
  factory = suite.DatasetFactory(FLAGS.data_dir, FLAGS.split_seed, FLAGS.val_share,
                                 FLAGS.lto_max_test_rows, FLAGS.mnist_max_train_rows)
  done = {(r["candidate"], r["dataset"], r["seed"]) for r in data["records"]}
  for name in suite.expand_datasets(FLAGS.dev_sets):
    ds = factory.build(name)
    full, partial = synthetic_anomalies(ds, FLAGS.split_seed + 7)
    jobs = [c for c in FLAGS.candidates]
    if FLAGS.baselines:
      jobs = ["iforest", "knn"] + jobs
    for c in jobs:
      if (c, name, FLAGS.seed) in done:
        continue
      if c in ("iforest", "knn"):
        record = run_baseline(ds, c, FLAGS.seed, full, partial)
      else:
        record = run_engan(ds, c, FLAGS.seed, full, partial)
        print(f"[selection] {c} {name}: criterion {record['auto']['criterion']:.3f} "
              f"({record['chosen']}), fit {record['fit_s']} s", flush=True)
      data["records"].append(record)
      done.add((c, name, FLAGS.seed))
      save(FLAGS.selection_output, data)
  print(report(data, FLAGS.show_test))


if __name__ == "__main__":
  app.run(main)
