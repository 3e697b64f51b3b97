"""KDD Cup 99 preprocessing on the real file, and a short training run that detects anomalies."""

import os

import numpy as np
import pytest
import tensorflow as tf

from engan_tf import anomaly
from engan_tf import build
from engan_tf import losses
from engan_tf import data as data_lib
from engan_tf import rundir
from engan_tf import training
from engan_tf.data import kdd
from engan_tf.data import tabular


@pytest.fixture(scope="module")
def kdd_dir():
  path = os.environ.get("ENGAN_TF_TEST_DATA")
  if not path or not os.path.isdir(path):
    pytest.skip("set ENGAN_TF_TEST_DATA to the shared data directory to run this test")
  return path


@pytest.fixture(scope="module")
def raw(kdd_dir):
  return kdd.read(kdd_dir)  # parsed once per session: 494,021 rows


@pytest.fixture(scope="module")
def source(raw):
  assert "kddcup99" in data_lib.dataset_names()  # load_dataset("kddcup99") = read + this
  return kdd.source_from_table(*raw)


def test_file_has_the_documented_records(raw):
  schema, columns, is_anomaly = raw
  assert len(columns["duration"]) == 494_021
  assert int(is_anomaly.sum()) == 97_278  # `normal.` records: the anomaly class
  assert set(np.unique(columns["protocol_type"])) == {"icmp", "tcp", "udp"}


def test_split_sizes_and_anomaly_share(raw, source):
  _, _, is_anomaly = raw
  train_rows, test_rows = tabular.anomaly_split(is_anomaly, 42, 0.2)
  assert len(test_rows) == 247_011  # the whole test half: it has fewer normals than rho allows
  train_half = np.setdiff1d(np.arange(494_021), test_rows)
  assert len(train_half) == 247_010
  assert len(train_rows) == 247_010 - int(is_anomaly[train_half].sum())
  assert not is_anomaly[train_rows].any()  # trains on non-`normal.` records only
  assert len(np.intersect1d(train_rows, test_rows)) == 0
  data = source.anomaly
  assert source.data_shape == (121,)
  assert data.x_train.shape == (len(train_rows), 121)
  assert data.x_test.shape == (247_011, 121)
  np.testing.assert_array_equal(data.train_rows, train_rows)  # the rows behind x_train
  np.testing.assert_array_equal(data.test_rows, test_rows)
  share = data.y_test.mean()
  assert 0.19 < share <= 0.2 and share == pytest.approx(data.test_anomaly_share)


def test_train_features_are_min_max_scaled(source):
  x = source.anomaly.x_train
  assert x.min() == 0.0 and x.max() == pytest.approx(1.0)
  span = x.max(axis=0) - x.min(axis=0)
  non_constant = span > 0
  np.testing.assert_allclose(x.min(axis=0), 0.0, atol=1e-6)
  np.testing.assert_allclose(x.max(axis=0)[non_constant], 1.0, atol=1e-5)
  assert source.anomaly.x_test.max() > 1.0  # scaled with the training fit, not clipped


def test_preprocessing_model_maps_raw_records_to_the_same_features(raw, source):
  schema, columns, is_anomaly = raw
  spec = source.tabular.raw_feature_spec
  assert list(spec) == list(kdd.COLUMNS[:-1])  # file order, label excluded
  assert spec["service"] == tf.string and spec["duration"] == tf.float32
  _, test_rows = tabular.anomaly_split(is_anomaly, 42, 0.2)
  rows = test_rows[:64]
  feed = {c: tf.constant(columns[c][rows].astype(str if d == tf.string else np.float32))
          for c, d in spec.items()}
  features = source.tabular.model(feed)
  np.testing.assert_allclose(features.numpy(), source.anomaly.x_test[:64], atol=1e-6)
  # An unseen category encodes as all zeros in its block; the width stays 121.
  feed["service"] = tf.constant(["never_seen"] * 64)
  assert source.tabular.model(feed).shape == (64, 121)


def test_features_match_an_independent_one_hot_and_min_max(raw, source):
  """x = [numeric columns, one-hot blocks in sorted value order], min-max fit on training
  rows: recomputed with scikit-learn's encoders."""
  from sklearn import preprocessing as sk  # pylint: disable=g-import-not-at-top
  _, columns, _ = raw
  numeric = [c for c in kdd.COLUMNS[:-1] if c not in kdd.CATEGORICAL]
  encoder = sk.OneHotEncoder(handle_unknown="ignore").fit(
      np.stack([columns[c] for c in kdd.CATEGORICAL], 1))
  def features(rows):
    return np.concatenate([np.stack([columns[c][rows] for c in numeric], 1),
                           encoder.transform(np.stack([columns[c][rows] for c in
                                                       kdd.CATEGORICAL], 1)).toarray()], 1)
  data = source.anomaly
  scaler = sk.MinMaxScaler().fit(features(data.train_rows))
  np.testing.assert_allclose(data.x_train, scaler.transform(features(data.train_rows)),
                             atol=2e-6)
  test = data.test_rows[:20_000]
  np.testing.assert_allclose(data.x_test[:20_000], scaler.transform(features(test)),
                             rtol=1e-5, atol=2e-6)


@pytest.fixture(scope="module")
def trained(source, tmp_path_factory):
  """A model fit for 300 steps on the training half (what the two tests below read)."""
  config = build.resolve(training.TrainConfig(
      dataset="kddcup99", model_dir=str(tmp_path_factory.mktemp("kdd")), n_critic=1,
      lambda_penalty=1e5, batch_size=256, jit_compile=False, verbose=0), source)
  model = build.build_model(config, source)
  model.fit(source.train_dataset(256, 1, 0), steps_per_epoch=300, epochs=1, verbose=0)
  return model


def test_short_training_run_beats_a_random_scorer(source, trained, tmp_path):
  model = trained
  metrics = anomaly.evaluate(model.energy, source.anomaly)
  random_scores = np.random.RandomState(0).rand(len(source.anomaly.y_test))
  random_f1 = anomaly.metrics.at_share(source.anomaly.y_test, random_scores, 0.2)["f1"]
  assert random_f1 < 0.25
  assert metrics["score_norm/f1"] > random_f1 + 0.4
  # F1 at the 80th percentile (ties not flagged) and AUROC against scikit-learn's.
  from sklearn import metrics as sk_metrics  # pylint: disable=g-import-not-at-top
  scores = anomaly.score(model.energy, source.anomaly.x_test)["score_norm"]
  flagged = scores > np.quantile(scores, 0.8)
  assert anomaly.metrics.at_share(source.anomaly.y_test, scores, 0.2, ties="exclusive")[
      "f1"] == pytest.approx(sk_metrics.f1_score(source.anomaly.y_test, flagged), abs=1e-9)
  assert metrics["score_norm/auroc"] == pytest.approx(
      sk_metrics.roc_auc_score(source.anomaly.y_test, scores), abs=1e-6)
  # The threshold fit on training scores is stored for export and read back by restore.
  thresholds = anomaly.fit_thresholds(model.energy, source.anomaly, step=300)
  assert thresholds.threshold == thresholds.thresholds["score_norm"]
  train_scores = anomaly.score(model.energy, source.anomaly.x_train[:20_000])["score_norm"]
  assert np.mean(train_scores > thresholds.threshold) == pytest.approx(0.05, abs=0.02)
  run = rundir.RunDir(str(tmp_path))
  run.save_thresholds(thresholds)
  assert run.load_thresholds() == thresholds


def test_exported_scorer_takes_raw_kdd_records(raw, source, trained, tmp_path):
  """The fitted one-hot/min-max layers and the threshold travel inside the SavedModel."""
  from engan_tf import serving as export  # pylint: disable=g-import-not-at-top
  model = trained  # only read: exported to tmp_path
  thresholds = anomaly.fit_thresholds(model.energy, source.anomaly, step=300)
  paths = export.export_model(model, source, str(tmp_path / "export"), version=1,
                              thresholds=thresholds)
  scorer = tf.saved_model.load(paths["scorer"])
  assert {"serving_default", "anomaly", "score_records"} <= set(scorer.signatures)

  _, columns, _ = raw
  rows = np.arange(5)
  spec = scorer.signatures["score_records"].structured_input_signature[1]
  records = {name: tf.constant(np.asarray(columns[name])[rows], spec[name].dtype)
             for name in spec}
  out = scorer.signatures["score_records"](**records)
  energy = model.energy(source.tabular.model(records))
  np.testing.assert_allclose(out["energy"].numpy(), energy.numpy(), rtol=1e-5, atol=1e-5)
  # The decision against the saved threshold and a score norm computed here.
  _, score_norm = losses.energy_and_score_norm(model.energy, source.tabular.model(records))
  np.testing.assert_array_equal(out["is_anomaly"].numpy(),
                                score_norm.numpy() > thresholds.threshold)
  assert not out["nonfinite"].numpy().any() and not out["unseen_categories"].numpy().any()
