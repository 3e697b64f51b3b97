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


def standardiser(reference, log=False):
  """x -> (t(x) - median) / IQR with the median and interquartile range of t(reference),
  t = log for the score norm (it spans decades), else the identity: puts the scores of
  different fits and decision functions on one scale without labels."""
  transform = (lambda v: np.log(np.maximum(v, 1e-30))) if log else (lambda v: v)
  reference = transform(np.asarray(reference, np.float64))
  median = float(np.median(reference))
  spread = float(np.subtract(*np.percentile(reference, [75, 25]))) or 1.0
  return lambda v: (transform(np.asarray(v, np.float64)) - median) / spread


def standardised_scores(detector, reference_rows, parts):
  """{decision function: {part: standardised scores}} of a fitted AnomalyDetector; parts =
  {part name: rows}; each function standardised on its scores of reference_rows."""
  out = {}
  for name, score in anomaly_score_fns(detector).items():
    standardise = standardiser(score(reference_rows), log=name == "score_norm")
    out[name] = {part: standardise(score(rows)).round(4).tolist()
                 for part, rows in parts.items()}
  return out


def combined(scores_of_fits, kind, part):
  """The mean standardised score of `part` over fits (each a standardised_scores dict and
  its own choice `chosen`): kind "energy", "score_norm", "mix" (their mean) or "auto"."""
  rows = []
  for scores, chosen in scores_of_fits:
    names = {"auto": [chosen], "mix": list(DECISION_FUNCTIONS)}.get(kind, [kind])
    rows.append(np.mean([scores[n][part] for n in names], axis=0))
  return np.mean(rows, axis=0)
