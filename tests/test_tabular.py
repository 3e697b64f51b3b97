"""The CSV data set (--dataset=csv): preprocessing, split and the errors a user can act on."""

import dataclasses
import json
import os
import sys

import concurrent_runs
import numpy as np
import pytest
import tensorflow as tf

from engan_tf import data as data_lib
from engan_tf import rundir
from engan_tf.data import tabular

HEADER = "bytes,proto,flag,duration,is_attack\n"


def _write(tmp_path, text, name="flows.csv"):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def _table(n=200, seed=0, attack_bytes=5000):
  """A flows table: every 5th row an attack, its bytes shifted by attack_bytes."""
  rng = np.random.RandomState(seed)
  lines = [HEADER]
  for i in range(n):
    attack = int(i % 5 == 0)
    lines.append(f"{rng.randint(0, 1000) + attack_bytes * attack},{['tcp', 'udp'][i % 2]},"
                 f"{['SF', 'REJ', 'S0'][i % 3]},{rng.rand():.3f},{attack}\n")
  return "".join(lines)


def test_csv_source_one_hot_scaling_and_split(tmp_path):
  path = _write(tmp_path, _table())
  source = data_lib.load_dataset("csv", data_path=path, label_column="is_attack",
                                 categorical_columns=["proto", "flag"])
  data = source.anomaly
  # 2 numeric + 2 (proto) + 3 (flag) one-hot columns; the label is not a feature.
  assert source.data_shape == (7,)
  assert list(source.tabular.raw_feature_spec) == ["bytes", "proto", "flag", "duration"]
  x_train = data.x_train
  assert len(x_train) + len(data.x_test) < 200  # training keeps normal rows only
  assert len(data.x_test) == 100  # the test half is kept whole
  np.testing.assert_allclose(x_train.min(axis=0), 0.0, atol=1e-6)
  np.testing.assert_allclose(x_train.max(axis=0), 1.0, atol=1e-6)
  # Attacks (bytes >= 5000) lie outside the training range of the scaled bytes column.
  attacks = data.y_test == 1
  assert attacks.any() and (data.x_test[attacks, 0] > 1.0).all()
  batch = next(iter(source.train_dataset(8, 2, 0)))
  assert batch.shape == (8, 2, 7)


def test_csv_without_label_trains_on_every_row_but_the_held_out_ones(tmp_path):
  path = _write(tmp_path, _table(100))
  source = data_lib.load_dataset("csv", data_path=path, categorical_columns=["proto", "flag"])
  data = source.anomaly
  assert data.y_test is None
  assert (len(data.x_train), len(data.x_val)) == (80, 20)  # the default validation share 0.2
  np.testing.assert_array_equal(data.x_test, data.x_val)  # the false-alarm rate is measured
  assert not set(data.train_rows) & set(data.test_rows)
  # The label-less file's is_attack column is just another numeric feature here.
  assert source.data_shape == (8,)


def test_unseen_category_encodes_as_zeros(tmp_path):
  path = _write(tmp_path, _table(50))
  feed = {"bytes": tf.constant([1.0]), "proto": tf.constant(["icmp"]),
          "flag": tf.constant(["SF"]), "duration": tf.constant([0.5])}
  schema, columns = tabular.read_csv(path, categorical=["proto", "flag"],
                                     label_column="is_attack")
  prep = tabular.build_preprocessing(schema, columns, np.arange(50))
  out = prep(feed).numpy()
  assert out.shape == (1, 7)
  np.testing.assert_array_equal(out[0, 2:4], [0.0, 0.0])  # proto block: icmp unseen


@pytest.mark.parametrize("text,options,message", [
    (HEADER + "1,tcp,SF,0.1,0\n2,udp,SF,0.2\n", {}, r"line 3: expected 5 fields.*got 4"),
    (HEADER + "1,tcp,SF,0.1,0\n2,udp,SF,abc,1\n", {},
     r"line 3, column 'duration': 'abc' is not a number"),
    (HEADER + "1,tcp,SF,0.1,0\n", {"categorical_columns": ["protocol"]},
     r"unknown column 'protocol'"),
    (HEADER + "1,tcp,SF,0.1,0\n", {"label_column": "label"}, r"unknown column 'label'"),
    (HEADER + "1,tcp,SF,0.1,0\n2,udp,SF,0.2,maybe\n", {},
     r"data row 2, column 'is_attack': label 'maybe' is not one of 0/1/true/false"),
    ("", {}, r"empty"),
    (HEADER, {}, r"no data rows"),
])
def test_csv_errors_name_the_row_and_column(tmp_path, text, options, message):
  path = _write(tmp_path, text)
  kwargs = {"label_column": "is_attack", "categorical_columns": ["proto", "flag"], **options}
  with pytest.raises(tabular.TabularDataError, match=message):
    data_lib.load_dataset("csv", data_path=path, **kwargs)


def test_csv_needs_an_existing_path(tmp_path):
  with pytest.raises(ValueError, match="--data_path"):
    data_lib.load_dataset("csv")
  with pytest.raises(FileNotFoundError, match="not found"):
    data_lib.load_dataset("csv", data_path=str(tmp_path / "missing.csv"))


def test_validation_split_holds_out_normal_rows_and_a_column_shuffled_copy(tmp_path):
  path = _write(tmp_path, _table())
  options = dict(data_path=path, label_column="is_attack", categorical_columns=["proto", "flag"])
  whole = data_lib.load_dataset("csv", validation_share=0.0, **options).anomaly
  split = data_lib.load_dataset("csv", validation_share=0.25, **options).anomaly
  n_normal = len(whole.x_train)
  assert len(split.x_val) == round(0.25 * n_normal)
  assert len(split.x_train) + len(split.x_val) == n_normal
  # The test half is the same rows (the scaling, fit on fewer rows, may differ).
  np.testing.assert_array_equal(split.y_test, whole.y_test)
  np.testing.assert_array_equal(split.x_test[:, 2:], whole.x_test[:, 2:])
  # Validation rows are normal training rows the model never sees.
  assert not {r.tobytes() for r in split.x_val} & {r.tobytes() for r in split.x_train}
  # The shuffled copy keeps every feature's multiset (one-hot blocks move together) and
  # breaks the rows apart.
  val, shuffled = split.x_val, split.x_val_shuffled
  np.testing.assert_allclose(np.sort(val, axis=0), np.sort(shuffled, axis=0), atol=1e-6)
  assert np.all(shuffled[:, 2:4].sum(axis=1) == 1) and np.all(shuffled[:, 4:7].sum(axis=1) == 1)
  assert np.mean(np.all(np.isclose(val, shuffled), axis=1)) < 0.2


def test_development_split_never_reads_the_test_half(tmp_path):
  path = _write(tmp_path, _table(400))
  options = dict(data_path=path, label_column="is_attack", categorical_columns=["proto", "flag"],
                 validation_share=0.0)
  paper = data_lib.load_dataset("csv", **options).anomaly
  dev = data_lib.load_dataset("csv", development_split=True, **options).anomaly
  y = np.array([i % 5 == 0 for i in range(400)])
  perm = np.random.RandomState(42).permutation(400)  # anomaly_split's halves
  train_half, test_half = perm[:200], perm[200:]
  used = np.concatenate([dev.train_rows, dev.test_rows])
  assert not set(used) & set(test_half) and set(paper.test_rows) == set(test_half)
  assert set(dev.train_rows) < set(train_half[~y[train_half]])  # about half of them
  assert len(dev.test_rows) == 100 and 0 < dev.y_test.mean() < 0.5
  np.testing.assert_array_equal(dev.y_test, y[dev.test_rows])
  with pytest.raises(ValueError, match="--development_split.*--label_column"):
    data_lib.load_dataset("csv", data_path=path, categorical_columns=["proto", "flag", "is_attack"],
                          development_split=True)


def test_validation_share_must_be_a_fraction(tmp_path):
  path = _write(tmp_path, _table())
  with pytest.raises(ValueError, match="validation_share"):
    data_lib.load_dataset("csv", data_path=path, validation_share=1.0)


def test_label_free_model_selection_trains_selects_and_exports(tmp_path):
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  path = _write(tmp_path, _table(400))
  config = training.TrainConfig(
      dataset="csv", model_dir=str(tmp_path / "run"), dim=16, latent_dim=4, batch_size=32,
      n_critic=1, train_steps=30, steps_per_epoch=10, eval_every=1, verbose=0,
      dataset_options=dict(data_path=path, label_column="is_attack",
                           categorical_columns=["proto", "flag"], validation_share=0.25),
      select_metric="score_norm/val_auroc_shuffled")
  summary = training.train(config)
  # The command line: evaluate.py --checkpoint=selected writes its own file. Started now, it
  # runs beside the checks below (it only reads the model_dir and adds its own file).
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  command = [sys.executable, os.path.join(root, "evaluate.py"),
             f"--model_dir={config.model_dir}", "--checkpoint=selected"]
  with concurrent_runs.running(command, timeout=300, cwd=root) as evaluate:
    _check_the_selected_model(config, summary, tmp_path)
  assert evaluate.result.returncode == 0, evaluate.result.stderr[-2000:]
  out = evaluate.result.stdout
  assert f"wrote {config.model_dir}/evaluate_selected.json" in out
  with open(os.path.join(config.model_dir, "evaluate_selected.json")) as f:
    record = json.load(f)
  selected = rundir.RunDir(config.model_dir).load_selected()
  assert (record["step"], record["checkpoint"]) == (selected["step"], "selected")
  assert record["score_norm/f1"] == pytest.approx(selected["metrics"]["score_norm/f1"])


def _check_the_selected_model(config, summary, tmp_path):
  from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
  from engan_tf import serving as export  # pylint: disable=g-import-not-at-top
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  # The label-free criterion against scikit-learn's AUROC of the final model's scores.
  from sklearn import metrics as sk_metrics  # pylint: disable=g-import-not-at-top
  final = training.restore(config.model_dir)
  split = final.source.anomaly
  scores = np.concatenate([anomaly.score(final.model.energy, x)["score_norm"]
                           for x in (split.x_val, split.x_val_shuffled)])
  labels = np.r_[np.zeros(len(split.x_val)), np.ones(len(split.x_val_shuffled))]
  assert summary["final_eval"]["score_norm/val_auroc_shuffled"] == pytest.approx(
      sk_metrics.roc_auc_score(labels, scores), abs=1e-6)
  selected = rundir.RunDir(config.model_dir).load_selected()
  assert selected["step"] == summary["final_eval"]["selected/step"]
  # The selected model comes back with its step and a threshold refit to its energy.
  restored = training.restore(config.model_dir, checkpoint="selected")
  assert restored.model.step == selected["step"]
  refit = anomaly.fit_thresholds(restored.model.energy, restored.source.anomaly, selected["step"])
  assert restored.thresholds == refit
  paths = export.export(config.model_dir, str(tmp_path / "export"), checkpoint="selected")
  assert paths["scorer"].endswith(f"/{selected['step']}")


def test_dsm_term_trains_on_a_table_with_sigma_in_neighbour_spacings(tmp_path):
  from engan_tf import build, recipes
  from engan_tf.config import TrainConfig
  path = _write(tmp_path, _table())
  source = data_lib.load_dataset("csv", data_path=path, label_column="is_attack",
                                 categorical_columns=["proto", "flag"])
  config = build.resolve(TrainConfig(dataset="csv", batch_size=16, n_critic=2, dim=16,
                                     dsm_weight=10.0, dsm_sigma=2.0, jit_compile=False),
                         source)
  model = build.build_model(config, source)
  assert model.dsm_sigma == pytest.approx(2.0 * recipes.neighbour_spacing(source.anomaly.x_train))
  history = model.fit(source.train_dataset(16, 2, 0), steps_per_epoch=2, epochs=1, verbose=0)
  assert np.isfinite(history.history["dsm"][-1]) and history.history["dsm"][-1] > 0
  # The recipe of a small table turns it on; --recipe=paper keeps the paper's loss; a toy
  # density's unit is the spacing of draws from it; images have no neighbour unit.
  assert build.resolve(TrainConfig(dataset="csv"), source).dsm_weight == 10.0
  assert build.resolve(TrainConfig(dataset="csv", model="wgan_gp"), source).dsm_weight == 0.0
  assert build.build_model(build.resolve(TrainConfig(dataset="csv", dim=16, recipe="paper"),
                                         source), source).dsm_weight == 0.0
  toy = data_lib.load_dataset("8gaussians")
  toy_sigma = build.dsm_noise_std(TrainConfig(dataset="8gaussians", dsm_weight=1.0), toy)
  draws = toy.toy_density.sample(tf.constant([0, 0]), build.DSM_REFERENCE_ROWS).numpy()
  assert toy_sigma == pytest.approx(2.0 * recipes.neighbour_spacing(draws))
  assert 0 < toy_sigma < toy.toy_density.mode_std  # 250 draws per mode lie closer than its std
  with pytest.raises(ValueError, match="--dsm_weight is for tables and toy densities"):
    build.dsm_noise_std(TrainConfig(dataset="cifar10", dsm_weight=1.0),
                        dataclasses.replace(toy, kind="image"))
  with pytest.raises(ValueError, match="--dsm_sigma must be > 0"):
    TrainConfig(dsm_weight=1.0, dsm_sigma=0.0).validate()


def test_a_row_cap_fits_on_a_seeded_subsample_and_keeps_the_held_out_rows(tmp_path):
  from engan_tf import build  # pylint: disable=g-import-not-at-top
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  path = _write(tmp_path, _table(400))
  options = dict(data_path=path, categorical_columns=["proto", "flag"])
  source = data_lib.load_dataset("csv", **options)
  config = training.TrainConfig(dataset="csv", max_train_rows=40, seed=1)
  capped = build.cap_training_rows(source, config)
  data, kept = source.anomaly, capped.anomaly
  assert len(data.x_train) == 320 and kept.x_train.shape == (40, 8)
  assert set(kept.train_rows) < set(data.train_rows)
  np.testing.assert_array_equal(kept.x_val, data.x_val)  # the threshold's rows stay whole
  rows = {tuple(r) for r in kept.x_train.tolist()}
  batch = next(iter(capped.train_dataset(32, 1, 0))).numpy().reshape(-1, 8)
  assert {tuple(r) for r in batch.tolist()} <= rows  # training draws from the subsample only
  again = build.cap_training_rows(source, config).anomaly.train_rows
  other = build.cap_training_rows(source, dataclasses.replace(config, seed=2)).anomaly.train_rows
  np.testing.assert_array_equal(again, kept.train_rows)  # a resumed run fits the same rows
  assert set(other) != set(kept.train_rows)
  assert build.cap_training_rows(source, dataclasses.replace(config, max_train_rows=0)) is source
  with pytest.raises(ValueError, match="--max_train_rows must be >= 0"):
    training.TrainConfig(max_train_rows=-1).validate()
  images = dataclasses.replace(source, kind="image")
  with pytest.raises(ValueError, match="--max_train_rows is for tables"):
    build.cap_training_rows(images, config)


def test_too_few_held_out_rows_for_the_stated_rate_are_recorded_and_warned(tmp_path, capsys):
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  path = _write(tmp_path, _table(100))  # about 40 normal rows in the training half

  def train(share, name):
    config = training.TrainConfig(
        dataset="csv", model_dir=str(tmp_path / name), dim=8, latent_dim=2, batch_size=8,
        n_critic=1, train_steps=2, steps_per_epoch=2, recipe="paper", verbose=0,
        dataset_options=dict(data_path=path, label_column="is_attack",
                             categorical_columns=["proto", "flag"], validation_share=share))
    training.train(config)
    return rundir.RunDir(config.model_dir).load_thresholds(), capsys.readouterr().err

  few, warned = train(0.1, "few")
  n = few.held_out_rows
  assert few.fit_on == "validation" and 0 < n < 19
  # The threshold is their largest score: a new normal record exceeds it with 1 / (n + 1).
  assert few.promised_false_alarm_rate == pytest.approx(1.0 / (n + 1))
  assert f"fit on {n} held-out normal rows: too few for a 5.0% false-alarm rate" in warned
  assert "Hold out at least 19 normal rows" in warned
  enough, quiet = train(0.6, "enough")
  assert enough.held_out_rows >= 19 and enough.promised_false_alarm_rate <= 0.05
  assert "too few" not in quiet
