"""Anomaly scores of a trained energy, their evaluation, and the fitted threshold.

Two decision functions (higher = more anomalous):
  "score_norm": ||grad_x E(x)||^2   (the paper's, Section 5.4)
  "energy":     E(x)

Evaluation (`evaluate`, run by the training driver every `eval_every` epochs and by
evaluate.py) scores the held-out test set and reports, per decision function, precision/recall/F1
with the top 20% of test scores flagged (the KDD99 protocol's 80th-percentile threshold;
`engan_tf.metrics.anomaly.at_share`, fractional ties), the share flagged, AUROC, AUPRC,
and F1 at the threshold fit on training scores.

A record is anomalous when its score is strictly greater than the threshold (evaluation
and the exported decision use the same rule). The anomaly threshold of a decision function is the `THRESHOLD_QUANTILE` (0.95) quantile of
its scores on (up to 50,000 fixed) training rows: all training rows are normal, so about
5% of normal records are flagged. `fit_thresholds` returns them as an
`engan_tf.rundir.AnomalyThresholds` bound to the checkpoint's step; the training driver
saves them in the model_dir (`anomaly_threshold.json`), where `training.restore` and the
exporter read them:

  {"step": 42500, "quantile": 0.95, "decision_function": "score_norm",
   "thresholds": {"score_norm": 1.2e-3, "energy": -3.1}}

Example:
  >>> scores = score(model.energy, source.anomaly.x_test)
  >>> scores["score_norm"].shape
  (247011,)
"""

import weakref

import numpy as np
import tensorflow as tf

from engan_tf import losses
from engan_tf import rundir
from engan_tf.metrics import anomaly as metrics

DECISION_FUNCTIONS = ("score_norm", "energy")
SOURCE_KINDS = ("tabular", "image_anomaly")  # the DataSource kinds this module evaluates
DEFAULT_DECISION_FUNCTION = "score_norm"
THRESHOLD_QUANTILE = 0.95
PROTOCOL_SHARE = 0.2  # flag the top 20% of the test scores (the 80th percentile threshold)
_MAX_TRAIN_ROWS = 50_000

_SCORE_FNS = weakref.WeakKeyDictionary()


def _score_fn(energy):
  if energy not in _SCORE_FNS:
    _SCORE_FNS[energy] = tf.function(
        lambda x: losses.energy_and_score_norm(energy, x, training=False), reduce_retracing=True)
  return _SCORE_FNS[energy]


def score(energy, x, batch=8192):
  """{"energy": E(x), "score_norm": ||grad_x E(x)||^2}, float64 numpy [n] each."""
  fn = _score_fn(energy)
  parts = [fn(tf.constant(x[i:i + batch])) for i in range(0, len(x), batch)]
  return {"energy": np.concatenate([p[0].numpy() for p in parts]).astype(np.float64),
          "score_norm": np.concatenate([p[1].numpy() for p in parts]).astype(np.float64)}


def _train_rows(x_train):
  if len(x_train) <= _MAX_TRAIN_ROWS:
    return x_train
  return x_train[np.random.RandomState(0).choice(len(x_train), _MAX_TRAIN_ROWS, replace=False)]


def fit_thresholds(energy, data, step, quantile=THRESHOLD_QUANTILE):
  """The `quantile` quantile of each decision function on data.x_train, as AnomalyThresholds."""
  train_scores = score(energy, _train_rows(data.x_train))
  return rundir.AnomalyThresholds(
      step=int(step), quantile=quantile, decision_function=DEFAULT_DECISION_FUNCTION,
      thresholds={name: float(np.quantile(train_scores[name], quantile))
                  for name in DECISION_FUNCTIONS})


def evaluate(energy, data):
  """Metrics of both decision functions on data's (an AnomalyData) test set."""
  thresholds = fit_thresholds(energy, data, step=0).thresholds
  test_scores = score(energy, data.x_test)
  labels = data.y_test
  result = {}
  for name in DECISION_FUNCTIONS:
    s = test_scores[name]
    if labels is not None:
      for key, value in metrics.summary(labels, s, share=PROTOCOL_SHARE).items():
        result[f"{name}/{key}"] = value
      # The reference's rule (score >= 80th percentile): how much it would over-flag.
      result[f"{name}/flagged_share_inclusive"] = metrics.at_share(
          labels, s, PROTOCOL_SHARE, ties="inclusive")["flagged_share"]
      # The exported decision's rule: score > threshold (a tie is not flagged).
      at_train = metrics.at_share(labels, s, threshold=thresholds[name], ties="exclusive")
      result[f"{name}/f1_at_train_threshold"] = at_train["f1"]
    result[f"{name}/flagged_share_at_train_threshold"] = float(np.mean(s > thresholds[name]))
  result.update(validation_metrics(energy, data))
  return result


def validation_metrics(energy, data):
  """Label-free quality of each decision function, from held-out normal rows only.

  `{name}/val_auroc_shuffled`: the AUROC that separates the validation rows
  (data.x_val, normal) from the same rows with their columns shuffled independently
  (data.x_val_shuffled: each value plausible, their combination not). A decision
  function that has gone flat or inverted scores about 0.5 or below; used to select a
  checkpoint without looking at a single anomaly label. {} without a validation split.
  """
  if data.x_val is None:
    return {}
  normal, shuffled = score(energy, data.x_val), score(energy, data.x_val_shuffled)
  labels = np.concatenate([np.zeros(len(data.x_val)), np.ones(len(data.x_val_shuffled))])
  return {f"{name}/val_auroc_shuffled": metrics.auroc(labels, np.concatenate([normal[name],
                                                                              shuffled[name]]))
          for name in DECISION_FUNCTIONS}
