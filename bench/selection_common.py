"""What the recipe-selection scripts share (no flags: each script defines its own)."""

import json
import os

import numpy as np

DECISION_FUNCTIONS = ("energy", "score_norm")


def family(name):
  base, _, suffix = name.rpartition("_")
  return base if base and suffix.isdigit() else name


def anomaly_score_fns(detector):
  """{decision function: x -> anomaly score (higher = more anomalous)} of a fitted
  engan_tf.AnomalyDetector, whichever function it chose itself (`decision_function_`)."""

  def score_fn(name):
    def score(x):
      chosen = detector.decision_function_
      detector.decision_function_ = name
      try:
        return -np.asarray(detector.score_samples(x), np.float64)
      finally:
        detector.decision_function_ = chosen
    return score

  return {name: score_fn(name) for name in DECISION_FUNCTIONS}


def auroc(normal, anomalous):
  from sklearn import metrics  # pylint: disable=g-import-not-at-top
  y = np.concatenate([np.zeros(len(normal)), np.ones(len(anomalous))])
  return float(metrics.roc_auc_score(y, np.concatenate([normal, anomalous])))


def load(path):
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return {"records": []}


def save(path, data):
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "w") as f:
    json.dump(data, f, indent=1)


def family_mean(values_by_set):
  fams = {}
  for ds, v in values_by_set.items():
    fams.setdefault(family(ds), []).append(v)
  return float(np.mean([np.mean(v) for v in fams.values()]))
