"""Explanations of the exported scorer: each raw column's share of the anomaly score.

The share math is checked on a hand-built energy against a numpy recomputation from
tf.GradientTape gradients; a small model trained on a table whose anomalies differ in one
known column must name that column for the records it flags.
"""

import csv
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from engan_tf import rundir
from engan_tf import serving
from engan_tf import training
from engan_tf.data import tabular

_SCHEMA = tabular.TableSchema(("a", "proto", "b", "c"), categorical=("proto",))


def _columns(n=200, seed=0):
  rng = np.random.default_rng(seed)
  return {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n),
          "proto": np.array(rng.choice(["tcp", "udp", "icmp"], n))}


def _quadratic_energy(n_features, seed=0):
  """E(x) = ||x W||^2 with a fixed random W: a known energy with a known gradient."""
  x = keras.Input((n_features,))
  dense = keras.layers.Dense(6, use_bias=False)
  h = dense(x)
  energy = keras.Model(x, keras.layers.Lambda(lambda t: tf.reduce_sum(t * t, axis=1))(h))
  dense.kernel.assign(np.random.default_rng(seed).normal(size=(n_features, 6)))
  return energy


def _scorer(decision_function, medians=None):
  columns = _columns()
  preprocessing = tabular.build_preprocessing(_SCHEMA, columns, np.arange(100))
  features = tabular.apply_preprocessing(preprocessing, _SCHEMA, columns)
  source = types.SimpleNamespace(
      data_shape=features.shape[1:], from_data_scale=None, to_data_scale=None,
      tabular=types.SimpleNamespace(model=preprocessing,
                                    raw_feature_spec=_SCHEMA.raw_feature_spec()))
  model = types.SimpleNamespace(energy=_quadratic_energy(features.shape[1]))
  thresholds = rundir.AnomalyThresholds(step=1, thresholds={"score_norm": 1.0, "energy": 1.0},
                                        decision_function=decision_function)
  _, signatures = serving.build_scorer(model, source, thresholds, medians)
  return model, preprocessing, features, signatures


def _records():
  return {"a": tf.constant([0.5, 3.0, np.nan, -1.0], tf.float32),
          "proto": tf.constant(["tcp", "udp", "icmp", "never_seen"]),
          "b": tf.constant([0.0, 0.2, 0.1, 5.0], tf.float32),
          "c": tf.constant([1.0, -0.4, 0.0, 0.3], tf.float32)}


def _gradient(energy, features):
  x = tf.constant(features)
  with tf.GradientTape() as tape:
    tape.watch(x)
    total = tf.reduce_sum(energy(x, training=False))
  return tape.gradient(total, x).numpy().astype(np.float64)


def test_column_map_is_probed_on_the_preprocessing_model():
  _, preprocessing, _, _ = _scorer("score_norm")
  mapping = serving.column_map(preprocessing, _SCHEMA.raw_feature_spec())
  # build_preprocessing: numeric columns in file order, then the one-hot blocks.
  assert mapping.columns == ("a", "proto", "b", "c")
  assert mapping.feature_names == ("a", "b", "c", "proto=icmp", "proto=tcp", "proto=udp")
  np.testing.assert_array_equal(mapping.membership.argmax(axis=1), [0, 2, 3, 1, 1, 1])


@pytest.mark.parametrize("decision_function", ["score_norm", "energy"])
def test_shares_sum_to_one_and_match_a_numpy_recomputation(decision_function):
  medians = np.full([6], 0.25, np.float32)
  model, preprocessing, _, signatures = _scorer(decision_function, medians)
  records = _records()
  out = {k: v.numpy() for k, v in signatures["score_records"](records).items()}
  features = preprocessing(records).numpy().astype(np.float64)
  grad = _gradient(model.energy, features.astype(np.float32))
  # Features -> raw columns (a, proto, b, c) for build_preprocessing's layout.
  owner = np.array([0, 2, 3, 1, 1, 1])
  pieces = grad**2 if decision_function == "score_norm" else grad * (features - medians)
  per_column = np.stack([pieces[:, owner == j].sum(axis=1) for j in range(4)], axis=1)
  per_column = np.abs(per_column)
  expected = per_column / per_column.sum(axis=1, keepdims=True)
  finite = np.array([True, True, False, True])
  shares = out["column_shares"]
  assert shares.shape == (4, 4) and shares.dtype == np.float32
  np.testing.assert_allclose(shares[finite], expected[finite], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(shares[finite].sum(axis=1), 1.0, rtol=1e-5)
  # The NaN record: NaN-safe zeros and no top column (nonfinite flags it).
  np.testing.assert_array_equal(shares[2], 0.0)
  assert out["nonfinite"].tolist() == [False, False, True, False]
  names = np.array(["a", "proto", "b", "c"])
  assert [t.decode() for t in out["top_column"]] == [
      names[i] if ok else "" for i, ok in zip(expected.argmax(axis=1), finite)]

  # explain: the same split with every feature a column.
  explained = signatures["explain"](x=tf.constant(features[finite], tf.float32))
  pieces = np.abs(pieces[finite])
  np.testing.assert_allclose(explained["column_shares"].numpy(),
                             pieces / pieces.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)
  feature_names = np.array(["a", "b", "c", "proto=icmp", "proto=tcp", "proto=udp"])
  assert [t.decode() for t in explained["top_column"].numpy()] == list(
      feature_names[pieces.argmax(axis=1)])


def test_energy_without_medians_falls_back_to_the_score_norm_split():
  _, _, _, with_energy = _scorer("energy", medians=None)
  _, _, _, with_norm = _scorer("score_norm")
  records = _records()
  np.testing.assert_allclose(with_energy["score_records"](records)["column_shares"],
                             with_norm["score_records"](records)["column_shares"], rtol=1e-6)


def _write_table(path, n=2400, seed=0):
  """5 numeric columns and a categorical one; anomalies (10%) are shifted in c3 only."""
  rng = np.random.default_rng(seed)
  label = (rng.random(n) < 0.1).astype(int)
  values = rng.normal(size=(n, 5))
  values[:, 2] += 6.0 * label  # c3
  proto = rng.choice(["tcp", "udp", "icmp"], n, p=[0.6, 0.3, 0.1])
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["c1", "c2", "c3", "c4", "c5", "proto", "label"])
    for row, p, y in zip(values, proto, label):
      writer.writerow([f"{v:.5f}" for v in row] + [p, y])
  return values, proto, label


def test_a_trained_model_names_the_shifted_column(tmp_path):
  values, proto, label = _write_table(str(tmp_path / "table.csv"))
  model_dir = str(tmp_path / "run")
  # The tabular recipe's networks and learning rates, without its weight average (which
  # would still hold mostly the initial weights after this short run).
  training.train(training.TrainConfig(
      dataset="csv", model_dir=model_dir, recipe="paper", networks="kdd_quadratic_energy",
      dim=32, latent_dim=4, batch_size=64, n_critic=1, train_steps=1000,
      energy_learning_rate=5e-5, steps_per_epoch=100, eval_every=0, verbose=0,
      jit_compile=False, dataset_options={"data_path": str(tmp_path / "table.csv"),
                                          "label_column": "label",
                                          "categorical_columns": ["proto"]}))
  assert os.path.exists(os.path.join(model_dir, rundir.RunDir.FEATURE_MEDIANS))
  paths = serving.export(model_dir, str(tmp_path / "exported"))
  scorer = tf.saved_model.load(paths["scorer"]).signatures["score_records"]
  anomalies = label == 1
  records = {f"c{j + 1}": tf.constant(values[anomalies, j], tf.float32) for j in range(5)}
  records["proto"] = tf.constant(proto[anomalies])
  out = scorer(**records)
  flagged = out["is_anomaly"].numpy()
  top = out["top_column"].numpy()[flagged]
  assert flagged.mean() >= 0.5, flagged.mean()
  assert np.mean(top == b"c3") >= 0.9, np.unique(top, return_counts=True)
  shares = out["column_shares"].numpy()[flagged]
  np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-5)


def test_a_categorical_column_with_one_value_still_maps_to_its_feature():
  # KDD99's is_host_login: a single training value, a one-feature one-hot block.
  schema = tabular.TableSchema(("a", "flag"), categorical=("flag",))
  columns = {"a": np.arange(5.0), "flag": np.array(["0"] * 5)}
  preprocessing = tabular.build_preprocessing(schema, columns, np.arange(5))
  mapping = serving.column_map(preprocessing, schema.raw_feature_spec())
  assert mapping.feature_names == ("a", "flag=0")
  np.testing.assert_array_equal(mapping.membership, np.eye(2))
