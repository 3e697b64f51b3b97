"""--ensemble_size: members trained, resumed, combined, restored and exported as one energy."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import engan_tf
from engan_tf import build
from engan_tf import ensemble
from engan_tf import recipes
from engan_tf import rundir as rundir_lib
from engan_tf import training

QUICK = {"train_steps": 6, "steps_per_epoch": 3, "jit_compile": False, "dim": 8, "n_critic": 1,
         "latent_dim": 2, "batch_size": 32, "verbose": 0}


def _energy(seed, scale):
  keras.utils.set_random_seed(seed)
  x = keras.Input((3,))
  h = keras.layers.Dense(4, activation="tanh")(x)
  return keras.Model(x, scale * keras.ops.sum(keras.ops.square(h), axis=-1))


def test_the_ensemble_energy_is_the_mean_of_standardised_members():
  members = [_energy(0, 1.0), _energy(1, 100.0)]
  x = np.random.RandomState(0).normal(size=(200, 3)).astype(np.float32)
  scales = [ensemble.standardisation(m, x) for m in members]
  for m, s in zip(members, scales):
    values = m(x).numpy()
    assert s.median == pytest.approx(np.median(values), rel=1e-5)
    assert s.spread == pytest.approx(np.percentile(values, 75) - np.percentile(values, 25),
                                     rel=1e-5)
  combined = ensemble.EnsembleEnergy(members, scales)(x).numpy()
  expected = np.mean([(m(x).numpy() - s.median) / s.spread for m, s in zip(members, scales)],
                     axis=0)
  np.testing.assert_allclose(combined, expected, rtol=1e-5, atol=1e-6)
  # Standardised, the member at 100x the scale does not dominate: both ranks matter.
  assert abs(np.corrcoef(combined, members[0](x).numpy())[0, 1]) > 0.3
  assert ensemble.standardisation(lambda v, training: tf.zeros([len(v)]), x).spread == 1.0


def test_the_tabular_recipe_ensembles_small_tables_and_denoises_every_table():
  small, large = (recipes.tabular(n_train=n, n_features=10) for n in (500, 50_000))
  assert recipes.tabular(n_train=recipes.ENSEMBLE_MAX_ROWS, n_features=10)["ensemble_size"] == 3
  assert (small["ensemble_size"], large["ensemble_size"]) == (3, 1)
  assert (small["networks"], small["dsm_weight"], small["energy_learning_rate"]) == (
      "kdd_quadratic_energy", recipes.SMALL_TABLE_DSM_WEIGHT, 5e-5)
  assert (large["networks"], large["dsm_weight"], large["energy_learning_rate"]) == (
      "kdd_swish_energy", recipes.LARGE_TABLE_DSM_WEIGHT, 5e-4)


def test_the_tabular_recipe_fits_large_tables_on_a_capped_subsample():
  cap = recipes.LARGE_TABLE_FIT_ROWS
  at_cap, above = (recipes.tabular(n_train=n, n_features=10) for n in (cap, 50 * cap))
  assert "max_train_rows" not in at_cap and above["max_train_rows"] == cap
  # Steps and batch follow the rows fit on: the same as a table of `cap` rows.
  assert {k: above[k] for k in at_cap} == at_cap


def test_the_neighbour_spacing_counts_repeated_rows_once():
  # KDD99's attack traffic repeats rows: counted with their copies, the 5th nearest row is
  # at distance 0 and the denoising term's noise would silently be 0.
  rows = np.repeat(np.arange(40.0).reshape(20, 2), 8, axis=0)
  assert recipes.neighbour_spacing(rows) == recipes.neighbour_spacing(np.unique(rows, axis=0)) > 0
  assert recipes.neighbour_spacing(np.ones([9, 3])) == 0.0  # one distinct row: no noise scale


def test_the_recipe_ensembles_only_when_the_user_left_ensemble_size_unset():
  class SmallTable:  # a DataSource's recipe, as engan_tf.data.tabular sets it
    recipe = recipes.tabular(n_train=500, n_features=4)
    default_networks, default_latent_dim = "kdd", 2

  choices = build.recipe_choices(engan_tf.TrainConfig(dataset="csv"), SmallTable)
  assert choices["ensemble_size"] == 3
  for explicit in ({"ensemble_size": 1}, {"select_metric": "energy/auroc"}):
    config = engan_tf.TrainConfig(dataset="csv", **explicit)
    assert "ensemble_size" not in build.recipe_choices(config, SmallTable)
  assert build.resolve(engan_tf.TrainConfig(dataset="csv", recipe="paper"),
                       SmallTable()).ensemble_size == 1


def test_an_ensemble_needs_anomaly_data_and_one_device(tmp_path):
  with pytest.raises(ValueError, match="--ensemble_size=2 averages anomaly scores"):
    engan_tf.train(dataset="8gaussians", model_dir=str(tmp_path / "toy"), ensemble_size=2,
                   **QUICK)
  with pytest.raises(ValueError, match="--ensemble_size must be >= 1"):
    engan_tf.TrainConfig(ensemble_size=0).validate()
  with pytest.raises(ValueError, match="--strategy=mirrored is not supported"):
    engan_tf.TrainConfig(ensemble_size=2, strategy="mirrored").validate()
  with pytest.raises(ValueError, match="--select_metric keeps one run"):
    engan_tf.TrainConfig(ensemble_size=2, select_metric="energy/auroc").validate()


def _table_csv(tmp_path, n=240):
  rng = np.random.RandomState(0)
  lines = ["a,b,proto,label"]
  for i in range(n):
    attack = int(i % 6 == 0)
    lines.append(f"{rng.normal() + 6 * attack:.4f},{rng.normal():.4f},{['tcp', 'udp'][i % 2]},"
                 f"{attack}")
  path = tmp_path / "table.csv"
  path.write_text("\n".join(lines) + "\n")
  return str(path)


def test_an_ensemble_run_trains_resumes_restores_and_exports(tmp_path):
  model_dir = str(tmp_path / "run")
  options = dict(dataset="csv", data_path=_table_csv(tmp_path), label_column="label",
                 categorical_columns=["proto"], model_dir=model_dir, ensemble_size=2, seed=5,
                 **QUICK)
  result = engan_tf.train(**options)
  run = rundir_lib.RunDir(model_dir)
  assert result["step"] == 6 and "energy/auroc" in result["final_eval"]
  assert os.path.exists(run.picture_png("scores"))
  with open(run.file(run.ENSEMBLE_FILE)) as f:
    saved = json.load(f)["members"]
  assert [m["seed"] for m in saved] == [5, 6]
  member_steps = []
  for k in range(2):
    member = rundir_lib.RunDir(run.member_dir(k))
    assert member.read_config().seed == 5 + k and member.read_config().ensemble_size == 1
    member_steps.append(os.path.basename(tf.train.latest_checkpoint(member.checkpoint_dir())))
  assert member_steps == ["ckpt-6", "ckpt-6"]
  # The members differ (their seeds) and the ensemble is their standardised mean.
  restored = training.restore(model_dir)
  x = restored.source.anomaly.x_test
  parts = [training.restore(run.member_dir(k), source=restored.source).model.energy(x).numpy()
           for k in range(2)]
  assert not np.allclose(parts[0], parts[1])
  expected = np.mean([(p - m["median"]) / m["spread"] for p, m in zip(parts, saved)], axis=0)
  # (The test rows' attacks lie outside column a's range: the ensemble's support wall,
  # engan_tf.support, adds to them; tests/test_support.py checks it.)
  np.testing.assert_allclose(restored.model.unwalled.energy(x).numpy(), expected, rtol=1e-4,
                             atol=1e-5)
  expected = restored.model.energy(x).numpy()
  assert restored.thresholds.decision_function == ensemble.DECISION_FUNCTION
  assert restored.thresholds.step == 6

  # Running the command again trains nothing more and rewrites the same combination.
  mtimes = [os.path.getmtime(tf.train.latest_checkpoint(
      rundir_lib.RunDir(run.member_dir(k)).checkpoint_dir()) + ".index") for k in range(2)]
  engan_tf.train(**options)
  assert mtimes == [os.path.getmtime(tf.train.latest_checkpoint(
      rundir_lib.RunDir(run.member_dir(k)).checkpoint_dir()) + ".index") for k in range(2)]
  with open(run.file(run.ENSEMBLE_FILE)) as f:
    assert json.load(f)["members"] == saved

  # The exported scorer serves the ensemble's energy and decides on it.
  paths = engan_tf.export(model_dir, str(tmp_path / "exported"))
  scorer = tf.saved_model.load(paths["scorer"])
  served = scorer.signatures["serving_default"](x=tf.constant(x))
  np.testing.assert_allclose(served["energy"].numpy(), expected, rtol=1e-4, atol=1e-5)
  decision = scorer.signatures["anomaly"](x=tf.constant(x))
  np.testing.assert_array_equal(
      decision["is_anomaly"].numpy(),
      served["energy"].numpy() > np.float32(restored.thresholds.thresholds["energy"]))
  with pytest.raises(ValueError, match="only its latest checkpoints"):
    training.restore(model_dir, checkpoint="selected")


def test_an_unfinished_ensemble_says_how_to_finish_it(tmp_path):
  model_dir = str(tmp_path / "run")
  engan_tf.train(dataset="csv", data_path=_table_csv(tmp_path), label_column="label",
                 categorical_columns=["proto"], model_dir=model_dir, ensemble_size=2, **QUICK)
  os.remove(os.path.join(model_dir, rundir_lib.RunDir.ENSEMBLE_FILE))
  with pytest.raises(FileNotFoundError, match="Run the same train.py command again"):
    engan_tf.load(model_dir)
