"""engan_tf.metrics.anomaly against scikit-learn, and its tie rules."""

import numpy as np
import pytest
from sklearn import metrics as skm

from engan_tf.metrics import anomaly


def _fixed(seed=0, n=2000, decimals=1):
  rng = np.random.RandomState(seed)
  labels = (rng.rand(n) < 0.2).astype(int)
  scores = np.round(rng.randn(n) + 1.5 * labels, decimals)  # rounding makes ties
  return labels, scores


@pytest.mark.parametrize("decimals", [1, 6])
def test_auroc_and_auprc_match_sklearn(decimals):
  labels, scores = _fixed(decimals=decimals)
  assert anomaly.auroc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
  assert anomaly.auprc(labels, scores) == pytest.approx(
      skm.average_precision_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("ties,flag", [("inclusive", np.greater_equal), ("exclusive", np.greater)])
def test_threshold_rules_match_sklearn(ties, flag):
  labels, scores = _fixed()
  threshold = np.percentile(scores, 80)
  expected = skm.precision_recall_fscore_support(labels, flag(scores, threshold).astype(int),
                                                 average="binary")
  got = anomaly.at_share(labels, scores, share=0.2, ties=ties)
  assert got["threshold"] == pytest.approx(threshold)
  assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(expected[:3], abs=1e-12)
  assert got["flagged_share"] == pytest.approx(np.mean(flag(scores, threshold)))


def test_without_ties_all_rules_flag_the_top_share():
  labels, scores = _fixed(decimals=12)
  results = [anomaly.at_share(labels, scores, 0.2, ties=t) for t in anomaly.TIE_RULES]
  expected = skm.f1_score(labels, scores >= np.percentile(scores, 80))
  for r in results:
    assert r["f1"] == pytest.approx(expected, abs=2e-3)  # at most one row differs
    assert r["flagged_share"] == pytest.approx(0.2, abs=1e-3)


def test_fractional_ties_flag_exactly_the_share_and_equal_random_tie_breaking():
  # A big tied block at the threshold, as identical KDD records produce.
  labels = np.array([1] * 10 + [1] * 30 + [0] * 30 + [0] * 30)
  scores = np.array([3.0] * 10 + [2.0] * 60 + [1.0] * 30)
  inclusive = anomaly.at_share(labels, scores, 0.2, ties="inclusive")
  assert inclusive["flagged_share"] == pytest.approx(0.7)  # the over-flagging it guards against
  got = anomaly.at_share(labels, scores, 0.2, ties="fractional")
  assert got["flagged_share"] == pytest.approx(0.2)
  assert got["tied_share"] == pytest.approx(0.6)
  # Monte Carlo over random orders of the tied rows, scored by sklearn.
  rng = np.random.RandomState(0)
  f1s = []
  for _ in range(400):
    order = np.lexsort((rng.rand(len(scores)), -scores))
    flagged = np.zeros(len(scores), int)
    flagged[order[:20]] = 1
    f1s.append(skm.f1_score(labels, flagged))
  # F1 is linear in TP here (flagged count fixed), so the expectations agree.
  assert got["f1"] == pytest.approx(np.mean(f1s), abs=1e-2)  # ~4 standard errors


def test_bad_inputs_are_rejected():
  with pytest.raises(ValueError, match="differ in length"):
    anomaly.auroc([0, 1], [0.1])
  with pytest.raises(ValueError, match="0 \\(normal\\) or 1"):
    anomaly.auprc([0, 2], [0.1, 0.2])
  with pytest.raises(ValueError, match="not finite"):
    anomaly.at_share([0, 1], [np.nan, 0.2])
  with pytest.raises(ValueError, match="ties"):
    anomaly.at_share([0, 1], [0.1, 0.2], ties="random")


def test_validation_metrics_tell_a_shaped_energy_from_a_flat_one():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from engan_tf import anomaly as anomaly_scores  # pylint: disable=g-import-not-at-top
  from engan_tf import data  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  split = data.AnomalyData(x_train=None, x_test=None,
                           x_val=(0.1 * rng.randn(300, 3)).astype(np.float32),
                           x_val_shuffled=(1.0 + 0.1 * rng.randn(300, 3)).astype(np.float32))
  bowl = lambda x, training=False: tf.reduce_sum(tf.square(x), axis=1)  # low on the rows
  flat = lambda x, training=False: 0.0 * tf.reduce_sum(x, axis=1)
  shaped = anomaly_scores.validation_metrics(bowl, split)
  assert shaped == {"score_norm/val_auroc_shuffled": 1.0, "energy/val_auroc_shuffled": 1.0}
  assert anomaly_scores.validation_metrics(flat, split)["energy/val_auroc_shuffled"] == 0.5
  assert anomaly_scores.validation_metrics(bowl, data.AnomalyData(None, None)) == {}


def test_the_threshold_is_the_split_conformal_quantile_of_the_held_out_scores():
  from engan_tf import anomaly as thresholds  # pylint: disable=g-import-not-at-top
  assert thresholds.conformal_quantile(np.arange(1.0, 11.0), 0.95) == 10.0  # n = 10: the largest
  assert thresholds.conformal_quantile(np.arange(1.0, 101.0), 0.95) == 96.0  # ceil(101 * .95)
  assert thresholds.conformal_quantile([2.0, 1.0, 3.0], 0.5) == 2.0
  with pytest.raises(ValueError, match="at least one"):
    thresholds.conformal_quantile([], 0.95)
  # A new exchangeable normal score exceeds it at the stated rate or below, where the plain
  # sample quantile (np.quantile) over-flags a small split (measured with these draws: 0.118
  # at n = 10, 0.073 at n = 32).
  rng = np.random.RandomState(0)
  for n, expected in ((10, 1 / 11), (32, 1 / 33), (200, 10 / 201)):
    draws = rng.normal(size=(4000, n + 1))
    flagged = [d[-1] > thresholds.conformal_quantile(d[:-1], 0.95) for d in draws]
    assert abs(np.mean(flagged) - expected) < 0.012, (n, np.mean(flagged))
