"""What makes a trained model dependable: a self-contained model_dir, thresholds bound to
their checkpoint, reproducible seeds, clear data errors and atomic exports."""

import dataclasses
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from engan_tf import build
from engan_tf import data as data_lib
from engan_tf import serving as export_lib
from engan_tf import rundir
from engan_tf import training
from engan_tf.data import kdd
from engan_tf.data import tabular

from test_tabular import HEADER  # the same flows table as the CSV data set's tests
from test_tabular import _table


def _csv_config(tmp_path, path, **overrides):
  values = dict(dataset="csv", model_dir=str(tmp_path / "run"), dim=8, latent_dim=4,
                batch_size=16, n_critic=1, train_steps=4, steps_per_epoch=2, eval_every=0,
                verbose=0, jit_compile=False, ensemble_size=1,
                dataset_options=dict(data_path=path, label_column="is_attack",
                                     categorical_columns=["proto", "flag"]))
  values.update(overrides)
  return training.TrainConfig(**values)


def _score_records(scorer_path, records):
  scorer = tf.saved_model.load(scorer_path).signatures["score_records"]
  spec = scorer.structured_input_signature[1]
  return {k: v.numpy() for k, v in scorer(**{name: tf.constant(records[name], spec[name].dtype)
                                             for name in spec}).items()}


def test_the_model_dir_keeps_its_preprocessing_when_the_csv_changes_or_moves(tmp_path, capsys):
  path = tmp_path / "flows.csv"
  path.write_text(_table())
  config = _csv_config(tmp_path, str(path))
  training.train(config)
  run = rundir.RunDir(config.model_dir)
  fingerprint = run.data_fingerprint()
  assert fingerprint["sha256"] == tabular.sha256_of(str(path)) and fingerprint["rows"] == 200
  assert tf.io.gfile.exists(run.file("preprocessing.keras"))
  trained_source = data_lib.load_dataset("csv", **config.dataset_options)
  records = {"bytes": np.float32([10, 900, 6000]), "proto": np.array(["tcp", "udp", "tcp"]),
             "flag": np.array(["SF", "S0", "REJ"]), "duration": np.float32([0.1, 0.5, 0.9])}
  features = trained_source.tabular.model({k: tf.constant(v) for k, v in records.items()})
  # What the run scores with (its averaged energy and support wall), before the file changes.
  expected = training.restore(config.model_dir).model.energy(features).numpy()

  # The file grows by rows far outside the training range: a refit would rescale `bytes`.
  with open(path, "a") as f:
    f.write(_table(50, seed=1, attack_bytes=10**7)[len(HEADER):])
  exported = export_lib.export(config.model_dir, str(tmp_path / "export"))
  np.testing.assert_allclose(_score_records(exported["scorer"], records)["energy"], expected,
                             rtol=1e-5, atol=1e-5)
  restored = training.restore(config.model_dir)  # with data: warns, keeps the saved features
  np.testing.assert_allclose(restored.model.energy(restored.source.tabular.model(
      {k: tf.constant(v) for k, v in records.items()})), expected, rtol=1e-5, atol=1e-5)
  warning = capsys.readouterr().err
  assert fingerprint["sha256"][:12] in warning and tabular.sha256_of(str(path))[:12] in warning

  # Export reads the model_dir alone: the data file may be gone.
  os.remove(path)
  again = export_lib.export(config.model_dir, str(tmp_path / "export2"))
  np.testing.assert_allclose(_score_records(again["scorer"], records)["energy"], expected,
                             rtol=1e-5, atol=1e-5)
  with pytest.raises(FileNotFoundError, match="needs its data.*--data_dir"):
    training.restore(config.model_dir)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
  """A CSV anomaly run trained to step 4; its data file is never changed."""
  root = tmp_path_factory.mktemp("csv_run")
  path = root / "flows.csv"
  path.write_text(_table())
  config = _csv_config(root, str(path))
  training.train(config)
  return config


def test_anomaly_thresholds_belong_to_their_checkpoint(csv_run, tmp_path):
  shutil.copytree(csv_run.model_dir, tmp_path / "run")  # this test rewrites its files
  config = dataclasses.replace(csv_run, model_dir=str(tmp_path / "run"))
  run = rundir.RunDir(config.model_dir)
  saved = run.load_thresholds()
  assert saved.step == 4
  # A thresholds file of another step (a resumed run killed before its end) is not used.
  run.save_thresholds(dataclasses.replace(saved, step=2))
  with pytest.raises(ValueError, match="belongs to step 2.*step 4.*evaluate.py"):
    training.restore(config.model_dir, with_data=False)
  with pytest.raises(ValueError, match="belongs to step 2"):
    export_lib.export(config.model_dir, str(tmp_path / "export"))
  refit = training.restore(config.model_dir).thresholds  # with the data: refitted
  assert refit.step == 4 and refit.thresholds == pytest.approx(saved.thresholds)
  # An anomaly model with no thresholds at all gets a message, not a partial export.
  os.remove(run.file(run.THRESHOLD_FILE))
  with pytest.raises(ValueError, match="without anomaly_threshold.json.*evaluate.py"):
    export_lib.export(config.model_dir, str(tmp_path / "export"))
  assert not tf.io.gfile.exists(str(tmp_path / "export"))


def test_export_takes_the_decision_function_the_user_names(csv_run, tmp_path):
  saved = rundir.RunDir(csv_run.model_dir).load_thresholds()
  other = "energy" if saved.decision_function == "score_norm" else "score_norm"
  paths = export_lib.export(csv_run.model_dir, str(tmp_path / "export"),
                            decision_function=other)
  assert tf.saved_model.load(paths["scorer"]).anomaly_threshold.numpy() == pytest.approx(
      saved.thresholds[other], rel=1e-6)
  records = {"bytes": np.float32([10, 900, 6000]), "proto": np.array(["tcp", "udp", "tcp"]),
             "flag": np.array(["SF", "S0", "REJ"]), "duration": np.float32([0.1, 0.5, 0.9])}
  out = _score_records(paths["scorer"], records)
  np.testing.assert_array_equal(out["is_anomaly"], out[other] > np.float32(
      saved.thresholds[other]))
  with pytest.raises(ValueError, match="--decision_function must be one of"):
    export_lib.export(csv_run.model_dir, str(tmp_path / "bad"), decision_function="density")


@pytest.fixture(scope="module")
def averaged_run(tmp_path_factory):
  """A toy run with weight averaging, trained to step 6: (config, its trained model)."""
  config = training.TrainConfig(
      dataset="8gaussians", model_dir=str(tmp_path_factory.mktemp("averaged") / "run"), dim=8,
      batch_size=16, train_steps=6, steps_per_epoch=3, eval_every=0, verbose=0,
      jit_compile=False, ema_decay=0.5, learning_rate=1e-2)
  return config, training.train(config)["model"]


def _copy_run(config, tmp_path):
  shutil.copytree(config.model_dir, tmp_path / "run")
  return dataclasses.replace(config, model_dir=str(tmp_path / "run"))


def test_resuming_with_averaging_switched_is_refused_with_a_message(averaged_run, tmp_path):
  config = _copy_run(averaged_run[0], tmp_path)
  with pytest.raises(ValueError, match="ema_decay > 0.*True.*False.*new --model_dir"):
    training.train(dataclasses.replace(config, ema_decay=0.0, train_steps=8))


def test_the_average_is_what_restore_and_export_use_and_it_survives_resume(averaged_run,
                                                                            tmp_path):
  config, model = _copy_run(averaged_run[0], tmp_path), averaged_run[1]
  averaged = [w.numpy() for w in model.weight_average.energy.weights]
  latest = [w.numpy() for w in model.energy.weights]
  assert any(not np.allclose(a, b) for a, b in zip(averaged, latest))
  ckpt = tf.train.latest_checkpoint(os.path.join(config.model_dir, "checkpoints"))
  restored = training.restore(config.model_dir).model
  for a, w in zip(averaged, restored.energy.weights):  # inference: the averaged energy
    np.testing.assert_allclose(w.numpy(), a)
  x = tf.random.stateless_normal([5, 2], [1, 2])
  scorer = tf.saved_model.load(export_lib.export(config.model_dir, str(tmp_path / "e"))["scorer"])
  np.testing.assert_allclose(scorer.signatures["score"](x=x)["energy"],
                             restored.energy(x), rtol=1e-5, atol=1e-5)
  # Resume: the average comes back from the checkpoint, not restarted at the weights.
  source = data_lib.load_dataset("8gaussians")
  fresh = build.build_model(build.resolve(config, source), source)
  tf.train.Checkpoint(**build.training_checkpoint(fresh)).restore(ckpt).expect_partial()
  for a, w in zip(averaged, fresh.weight_average.energy.weights):
    np.testing.assert_allclose(w.numpy(), a)
  assert training.train(dataclasses.replace(config, train_steps=9))["step"] == 9


def _toy_weights(tmp_path, name, seed):
  config = training.TrainConfig(dataset="25gaussians", model_dir=str(tmp_path / name), dim=16,
                                batch_size=32, n_critic=2, train_steps=50, steps_per_epoch=25,
                                eval_every=0, verbose=0, jit_compile=False, seed=seed,
                                mcmc_steps=2)
  model = training.train(config)["model"]
  return [w.numpy() for net in model.networks().values() for w in net.weights]


def test_a_seed_fixes_the_whole_run(tmp_path):
  first, again = _toy_weights(tmp_path, "a", 3), _toy_weights(tmp_path, "b", 3)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  other = _toy_weights(tmp_path, "c", 4)
  assert any(not np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("text,where", [
    (HEADER + "10,tcp,SF,0.5,0\n20,udp,S0,nan,0\n", "line 3, column 'duration'.*not a finite"),
    (HEADER + "10,tcp,SF,0.5,0\n20,udp,S0,inf,0\n", "line 3, column 'duration'.*not a finite"),
    (HEADER + "10,tcp,SF,0.5,0\n,udp,S0,0.1,0\n", "line 3, column 'bytes'.*empty numeric"),
])
def test_missing_and_non_finite_values_name_their_line_and_column(tmp_path, text, where):
  path = tmp_path / "bad.csv"
  path.write_text(text)
  with pytest.raises(tabular.TabularDataError, match=where):
    data_lib.load_dataset("csv", data_path=str(path), label_column="is_attack",
                          categorical_columns=["proto", "flag"])


def test_a_byte_order_mark_string_labels_and_a_tiny_table(tmp_path):
  rows = "".join(f"{i},{['tcp', 'udp'][i % 2]},SF,0.{i},{'malignant' if i % 4 == 0 else 'benign'}\n"
                 for i in range(12))
  path = tmp_path / "tiny.csv"
  path.write_bytes(b"\xef\xbb\xbf" + (HEADER + rows).encode())  # a spreadsheet's UTF-8 BOM
  options = dict(data_path=str(path), label_column="is_attack",
                 categorical_columns=["proto", "flag"], anomaly_label="malignant")
  source = data_lib.load_dataset("csv", **options)
  assert list(source.tabular.raw_feature_spec) == ["bytes", "proto", "flag", "duration"]
  # Fewer normal training rows than one batch: the batches cycle through them.
  config = _csv_config(tmp_path, str(path), dataset_options=options, batch_size=64)
  assert training.train(config)["step"] == 4
  with pytest.raises(tabular.TabularDataError, match="anomaly label 'cancer'"):
    data_lib.load_dataset("csv", **dict(options, anomaly_label="cancer"))


def test_a_test_half_without_anomalies_is_evaluated_without_label_metrics(tmp_path):
  # The one anomaly sits in the training half of the seeded 50/50 split (anomaly_split).
  in_train_half = np.random.RandomState(42).permutation(40)[0]
  rows = "".join(f"{i},tcp,SF,0.5,{int(i == in_train_half)}\n" for i in range(40))
  path = tmp_path / "one_anomaly.csv"
  path.write_text(HEADER + rows)
  config = _csv_config(tmp_path, str(path))
  assert data_lib.load_dataset("csv", **config.dataset_options).anomaly.y_test is None
  summary = training.train(config)
  assert "score_norm/auroc" not in summary["final_eval"]
  assert "score_norm/flagged_share_at_threshold" in summary["final_eval"]


def test_a_corrupt_local_kdd_file_is_named(tmp_path, data_dir):
  original = os.path.join(data_dir, "kddcup99", kdd.FILENAME)
  with open(original, "rb") as f:
    (tmp_path / kdd.FILENAME).write_bytes(f.read()[:100_000])  # truncated
  with pytest.raises(ValueError, match=f"{tmp_path}/{kdd.FILENAME} has sha256.*truncated"):
    kdd.find_or_download(str(tmp_path))
  shutil.copy(original, tmp_path / kdd.FILENAME)
  assert kdd.find_or_download(str(tmp_path)) == str(tmp_path / kdd.FILENAME)


def test_an_export_is_both_models_or_neither(averaged_run, tmp_path, monkeypatch):
  config = averaged_run[0]  # only read: the exports go to tmp_path
  real_rename, calls = tf.io.gfile.rename, []

  def failing_rename(src, dst, overwrite=False):
    calls.append(dst)
    if len(calls) == 2:  # the scorer's rename, after the sampler's
      raise tf.errors.PermissionDeniedError(None, None, "injected failure")
    return real_rename(src, dst, overwrite)

  monkeypatch.setattr(tf.io.gfile, "rename", failing_rename)
  with pytest.raises(tf.errors.PermissionDeniedError):
    export_lib.export(config.model_dir, str(tmp_path / "export"))
  monkeypatch.setattr(tf.io.gfile, "rename", real_rename)
  for name in ("sampler", "scorer"):
    assert tf.io.gfile.listdir(str(tmp_path / "export" / name)) == []
  paths = export_lib.export(config.model_dir, str(tmp_path / "export"))
  assert all(tf.io.gfile.exists(p) for p in paths.values())
