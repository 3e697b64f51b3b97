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
and the exported decision use the same rule). The threshold of a decision function is the
split-conformal (1 - false_alarm_rate) quantile (default 0.95) of its scores on n held-out
normal rows, the validation split (`--validation_share`; rows the energy was not fit on):
the k-th smallest, k = ceil((n + 1) (1 - false_alarm_rate)), so that a new normal record
is flagged with probability (n + 1 - k) / (n + 1) <= false_alarm_rate (exchangeable rows;
the plain sample quantile over-flags small splits: about 12% at n = 10 for a stated 5%).
With too few rows for that (n < 19 at 5%) it is the largest score, flagging 1 / (n + 1):
the thresholds record the rate they can promise (`promised_false_alarm_rate`) and training
warns when it is above the stated one.
Without a validation split it is fit on (up to 50,000 fixed) training rows, which
under-flags an energy that fits its training rows closely. The decision function the
exported `anomaly` signature uses is the one the validation split prefers, label-free: the
higher `val_auroc_shuffled` (below); without a validation split, the paper's score norm.
`fit_thresholds` returns them as an `engan_tf.rundir.AnomalyThresholds` bound to the
checkpoint's step; the training driver saves them in the model_dir
(`anomaly_threshold.json`), where `training.restore` and the exporter read them:

  {"step": 42500, "quantile": 0.95, "decision_function": "score_norm", "fit_on": "validation",
   "promised_false_alarm_rate": 0.05, "held_out_rows": 19836,
   "thresholds": {"score_norm": 1.2e-3, "energy": -3.1}}

Example (a trained model's energy on KDD99's test half: not run by the doctests):
  >>> scores = score(model.energy, source.anomaly.x_test)  # doctest: +SKIP
  >>> scores["score_norm"].shape  # doctest: +SKIP
  (247011,)

With the closed-form energy E(x) = ||x||^2 / 2, whose gradient is x:
  >>> energy = lambda x, training=False: 0.5 * tf.reduce_sum(tf.square(x), axis=-1)
  >>> scores = score(energy, np.array([[0.0, 0.0], [3.0, 4.0]], np.float32))
  >>> scores["energy"].tolist(), scores["score_norm"].tolist()
  ([0.0, 12.5], [0.0, 25.0])
"""

import itertools
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
  if not parts:
    return {"energy": np.zeros([0]), "score_norm": np.zeros([0])}
  return {"energy": np.concatenate([p[0].numpy() for p in parts]).astype(np.float64),
          "score_norm": np.concatenate([p[1].numpy() for p in parts]).astype(np.float64)}


def _train_rows(x_train):
  if len(x_train) <= _MAX_TRAIN_ROWS:
    return x_train
  return x_train[np.random.RandomState(0).choice(len(x_train), _MAX_TRAIN_ROWS, replace=False)]


def fit_thresholds(energy, data, step, false_alarm_rate=1.0 - THRESHOLD_QUANTILE,
                   decision_function=None):
  """AnomalyThresholds of `energy` for data (an AnomalyData): see the module docstring.

  decision_function: the exported decision's function; None: the one the validation split
  prefers (as above).
  """
  if not 0 < false_alarm_rate < 1:
    raise ValueError(f"--false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
  held_out = data.x_val is not None and len(data.x_val) > 0
  rows = data.x_val if held_out else _train_rows(data.x_train)
  scores = score(energy, rows)
  choice = decision_function or DEFAULT_DECISION_FUNCTION
  if decision_function not in (None,) + DECISION_FUNCTIONS:
    raise ValueError(f"decision_function must be one of {DECISION_FUNCTIONS}, got "
                     f"{decision_function!r}")
  if decision_function is None and held_out and data.x_val_shuffled is not None:
    preference = _shuffled_aurocs(scores, score(energy, data.x_val_shuffled))
    choice = max(DECISION_FUNCTIONS, key=lambda n: preference[f"{n}/val_auroc_shuffled"])
  quantile = 1.0 - false_alarm_rate
  return rundir.AnomalyThresholds(
      step=int(step), quantile=quantile, decision_function=choice,
      fit_on="validation" if held_out else "training",
      promised_false_alarm_rate=promised_false_alarm_rate(len(rows), quantile) if held_out
      else None, held_out_rows=len(rows) if held_out else 0,
      thresholds={name: conformal_quantile(scores[name], quantile)
                  for name in DECISION_FUNCTIONS})


def _conformal_rank(n, quantile):
  """k = min(n, ceil((n + 1) * quantile)), at least 1: the rank of the threshold."""
  return max(1, min(n, int(np.ceil((n + 1) * quantile - 1e-9))))


def conformal_quantile(values, quantile):
  """The k-th smallest of the n values, k = min(n, ceil((n + 1) * quantile)): a new value
  exchangeable with them exceeds it with probability (n + 1 - k) / (n + 1).

  >>> conformal_quantile(np.arange(1.0, 11.0), 0.95)   # n = 10: k = 10, the largest
  10.0
  >>> conformal_quantile(np.arange(1.0, 101.0), 0.95)  # n = 100: k = 96
  96.0
  """
  values = np.sort(np.asarray(values, np.float64).ravel())
  if not len(values):
    raise ValueError("a threshold needs at least one held-out score")
  return float(values[_conformal_rank(len(values), quantile) - 1])


def promised_false_alarm_rate(n, quantile):
  """(n + 1 - k) / (n + 1): the probability that a new normal record exceeds the threshold
  fit on n held-out normal rows (conformal_quantile). Above 1 - quantile when n is too small
  for it (n < 19 at 0.95): the threshold is then their largest score and flags 1 / (n + 1).

  >>> round(promised_false_alarm_rate(6, 0.95), 3)   # 6 held-out rows: 1/7, not 5%
  0.143
  >>> promised_false_alarm_rate(99, 0.95)
  0.05
  """
  return (n + 1 - _conformal_rank(n, quantile)) / (n + 1)


def small_split_warning(thresholds):
  """A message when thresholds (AnomalyThresholds) cannot hold their stated false-alarm
  rate because too few held-out rows set them; None when they can.

  >>> print(small_split_warning(rundir.AnomalyThresholds(
  ...     step=0, thresholds={}, fit_on="validation", promised_false_alarm_rate=1 / 7,
  ...     held_out_rows=6)))   # doctest: +NORMALIZE_WHITESPACE
  the anomaly threshold was fit on 6 held-out normal rows: too few for a 5.0% false-alarm
  rate (the threshold is their largest score, so about 14.3% of new normal records will be
  flagged). Hold out at least 19 normal rows for 5.0%: a larger --validation_share or more
  rows.
  """
  stated, promised = 1.0 - thresholds.quantile, thresholds.promised_false_alarm_rate
  if promised is None or promised <= stated + 1e-9:
    return None
  needed = next(n for n in itertools.count(thresholds.held_out_rows + 1)
                if promised_false_alarm_rate(n, thresholds.quantile) <= stated + 1e-9)
  # (Too few rows means k = n: the threshold is their largest score.)
  return (f"the anomaly threshold was fit on {thresholds.held_out_rows} held-out normal rows: "
          f"too few for a {stated:.1%} false-alarm rate (the threshold is their largest "
          f"score, so about {promised:.1%} of new normal records will be flagged). Hold out "
          f"at least {needed} normal rows for {stated:.1%}: a larger --validation_share or "
          "more rows.")


def evaluate(energy, data, false_alarm_rate=1.0 - THRESHOLD_QUANTILE):
  """Metrics of both decision functions on data's (an AnomalyData) test set.

  Beside the protocol's top-20% metrics, each decision function is scored at the threshold
  `fit_thresholds` sets (what the exported `is_anomaly` does): `f1_at_threshold`,
  `recall_at_threshold`, `false_alarm_rate_at_threshold` (test normals flagged; the stated
  rate is false_alarm_rate) and `flagged_share_at_threshold`.
  """
  if not len(data.x_test):
    return validation_metrics(energy, data)
  thresholds = fit_thresholds(energy, data, step=0, false_alarm_rate=false_alarm_rate).thresholds
  test_scores = score(energy, data.x_test)
  labels = data.y_test
  result = {}
  for name in DECISION_FUNCTIONS:
    s = test_scores[name]
    flagged = s > thresholds[name]  # the exported decision's rule (a tie is not flagged)
    if labels is not None:
      for key, value in metrics.summary(labels, s, share=PROTOCOL_SHARE).items():
        result[f"{name}/{key}"] = value
      # The reference's rule (score >= 80th percentile): how much it would over-flag.
      result[f"{name}/flagged_share_inclusive"] = metrics.at_share(
          labels, s, PROTOCOL_SHARE, ties="inclusive")["flagged_share"]
      at_threshold = metrics.at_share(labels, s, threshold=thresholds[name], ties="exclusive")
      result[f"{name}/f1_at_threshold"] = at_threshold["f1"]
      result[f"{name}/recall_at_threshold"] = at_threshold["recall"]
      result[f"{name}/false_alarm_rate_at_threshold"] = float(np.mean(flagged[labels == 0]))
    result[f"{name}/flagged_share_at_threshold"] = float(np.mean(flagged))
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
  return _shuffled_aurocs(score(energy, data.x_val), score(energy, data.x_val_shuffled))


def _shuffled_aurocs(normal, shuffled):
  """{name/val_auroc_shuffled} from the scores of validation rows and their shuffled copy."""
  any_name = DECISION_FUNCTIONS[0]
  labels = np.concatenate([np.zeros(len(normal[any_name])), np.ones(len(shuffled[any_name]))])
  return {f"{name}/val_auroc_shuffled": metrics.auroc(labels, np.concatenate([normal[name],
                                                                              shuffled[name]]))
          for name in DECISION_FUNCTIONS}
