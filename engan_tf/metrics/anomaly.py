"""Anomaly-detection metrics (anomaly = label 1 = the positive class; higher score = more anomalous).

* `at_share(labels, scores, share)`: precision, recall, F1 when the top `share` of the
  scores is flagged (the KDD99 protocol: threshold at the 80th percentile of the test
  scores, share = 0.2).
* `auroc(labels, scores)`: area under the ROC curve (= P(score of an anomaly > score of a
  normal) + 0.5 P(tie)), from average ranks.
* `auprc(labels, scores)`: average precision, sum_k (R_k - R_{k-1}) P_k over the distinct
  score thresholds, highest first (scikit-learn's `average_precision_score`).

Ties at the threshold. Identical records get identical scores (KDD99's test half has
79,892 distinct rows among 247,011), so the threshold t = the (1 - share) quantile can sit
inside a block of tied scores, and "flag score >= t" may flag far more than `share`
(55% was measured on the reference's model). `ties` chooses the rule:

  "fractional" (default): exactly k = round(share * n) rows are flagged: every row above
      the tied block, and of the m rows tied at t a fraction f = (k - n_above) / m. The
      counts of the tied block enter with weight f, i.e. the metrics are the expectation
      over a uniformly random order of the tied rows. Deterministic, never over-flags.
  "inclusive": flag score >= t (the reference implementation; may over-flag).
  "exclusive": flag score > t (may under-flag).

Each result also reports `flagged_share` (the share actually flagged under the rule) and
`tied_share` (the share of rows tied at t), so a degenerate scorer is visible.

Example:
  >>> at_share(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.9, 0.2]), share=0.5)
  {'precision': 0.75, 'recall': 0.75, 'f1': 0.75, 'threshold': 0.2, ...}
"""

import numpy as np

TIE_RULES = ("fractional", "inclusive", "exclusive")


def _check(labels, scores):
  labels = np.asarray(labels).astype(np.int64).ravel()
  scores = np.asarray(scores, dtype=np.float64).ravel()
  if labels.shape != scores.shape:
    raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in length")
  if not np.all(np.isin(labels, (0, 1))):
    raise ValueError("labels must be 0 (normal) or 1 (anomaly)")
  if not np.all(np.isfinite(scores)):
    raise ValueError(f"{np.sum(~np.isfinite(scores))} scores are not finite")
  return labels, scores


def _prf(tp, flagged, positives):
  precision = tp / flagged if flagged > 0 else 0.0
  recall = tp / positives if positives > 0 else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
  return float(precision), float(recall), float(f1)


def at_share(labels, scores, share=0.2, ties="fractional", threshold=None):
  """Precision/recall/F1 with the top `share` flagged (or score vs a given `threshold`).

  The threshold is the (1 - share) quantile of the scores (numpy's linear interpolation,
  as np.percentile(scores, 80) in the reference); with `threshold` given it is used as is
  (e.g. fit on training scores) and `ties` decides only the rows equal to it.
  """
  if ties not in TIE_RULES:
    raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
  labels, scores = _check(labels, scores)
  n = len(scores)
  if threshold is None:
    threshold = float(np.quantile(scores, 1.0 - share))
    target = int(round(share * n))
  else:
    target = None
  above = scores > threshold
  tied = scores == threshold
  n_above, n_tied = int(above.sum()), int(tied.sum())
  tp_above, tp_tied = int(labels[above].sum()), int(labels[tied].sum())
  if ties == "inclusive":
    fraction = 1.0
  elif ties == "exclusive" or n_tied == 0:
    fraction = 0.0
  elif target is None:  # a fixed threshold: a tied row is as likely flagged as not
    fraction = 0.5
  else:
    fraction = float(np.clip((target - n_above) / n_tied, 0.0, 1.0))
  flagged = n_above + fraction * n_tied
  precision, recall, f1 = _prf(tp_above + fraction * tp_tied, flagged, labels.sum())
  return {"precision": precision, "recall": recall, "f1": f1, "threshold": threshold,
          "flagged_share": flagged / n, "tied_share": n_tied / n}


def auroc(labels, scores):
  """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
  labels, scores = _check(labels, scores)
  n_pos, n_neg = int(labels.sum()), int((1 - labels).sum())
  if n_pos == 0 or n_neg == 0:
    raise ValueError("AUROC needs both anomalies and normal examples")
  order = np.argsort(scores, kind="mergesort")
  sorted_scores = scores[order]
  ranks = np.empty(len(scores))
  # Average rank of each block of equal scores (1-based).
  starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
  ends = np.r_[starts[1:], len(scores)]
  block_rank = (starts + ends + 1) / 2.0
  ranks[order] = np.repeat(block_rank, ends - starts)
  u = ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


def auprc(labels, scores):
  """Average precision: sum over distinct thresholds (high to low) of dRecall * Precision."""
  labels, scores = _check(labels, scores)
  n_pos = int(labels.sum())
  if n_pos == 0:
    raise ValueError("AUPRC needs at least one anomaly")
  order = np.argsort(-scores, kind="mergesort")
  s, y = scores[order], labels[order]
  last_of_block = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
  tp = np.cumsum(y)[last_of_block]
  flagged = last_of_block + 1
  precision = tp / flagged
  recall = tp / n_pos
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def summary(labels, scores, share=0.2, ties="fractional"):
  """at_share(...) plus auroc and auprc in one dict."""
  result = at_share(labels, scores, share, ties)
  result.update(auroc=auroc(labels, scores), auprc=auprc(labels, scores))
  return result
