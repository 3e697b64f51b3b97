"""The support wall: a table's scoring energy rises outside its training rows' range."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import engan_tf
from engan_tf import rundir as rundir_lib
from engan_tf import support
from engan_tf import training

QUICK = {"train_steps": 6, "steps_per_epoch": 3, "jit_compile": False, "dim": 8, "n_critic": 1,
         "latent_dim": 2, "batch_size": 32, "verbose": 0}


def _energy():
  keras.utils.set_random_seed(0)
  x = keras.Input((3,))
  return keras.Model(x, keras.ops.sum(keras.ops.square(keras.layers.Dense(4)(x)), axis=-1))


def test_the_wall_is_zero_inside_the_widened_box_and_quadratic_outside():
  energy = _energy()
  wall = support.SupportWall(step=1, margin=0.1, width=0.1, scale=2.5)
  x = np.array([[0.0, 0.5, 1.0],     # training range
                [-0.1, 1.1, 0.3],    # on the margin: still inside
                [1.3, 0.5, 0.5],     # 0.2 beyond 1 + margin in feature 0
                [-0.4, 1.25, 0.5]],  # 0.3 below -margin, 0.15 above 1 + margin
               np.float32)
  excess = np.maximum(0, np.maximum(x - 1.1, -0.1 - x))
  expected = energy(x).numpy() + 2.5 * 0.5 * np.sum((excess / 0.1) ** 2, axis=1)
  walled = support.WalledEnergy(energy, wall)(x).numpy()
  np.testing.assert_allclose(walled, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(walled[:2], energy(x[:2]).numpy(), rtol=1e-6)
  assert walled[2] - energy(x[2:3]).numpy()[0] == pytest.approx(2.5 * 0.5 * 4.0, rel=1e-4)
  with pytest.raises(ValueError, match="margin >= 0"):
    support.fit(energy, x, step=1, margin=-0.5)


def _table_csv(tmp_path, n=240):
  rng = np.random.RandomState(0)
  lines = ["a,b,proto"]
  for i in range(n):
    lines.append(f"{rng.normal():.4f},{rng.normal():.4f},{['tcp', 'udp'][i % 2]}")
  path = tmp_path / "table.csv"
  path.write_text("\n".join(lines) + "\n")
  return str(path)


@pytest.mark.parametrize("ensemble_size", [1, 2])
def test_a_table_run_scores_exports_and_explains_with_its_wall(tmp_path, ensemble_size):
  model_dir = str(tmp_path / "run")
  engan_tf.train(dataset="csv", data_path=_table_csv(tmp_path), categorical_columns=["proto"],
                 model_dir=model_dir, ensemble_size=ensemble_size, **QUICK)
  run = rundir_lib.RunDir(model_dir)
  wall = run.load_support_wall()
  assert wall.step == 6 and wall.margin == 0.1 and wall.width == support.WIDTH
  restored = training.restore(model_dir)
  x_train = restored.source.anomaly.x_train
  unwalled = restored.model.unwalled.energy
  values = unwalled(x_train).numpy()
  assert wall.scale == pytest.approx(np.subtract(*np.percentile(values, [75, 25])), rel=1e-4)
  if ensemble_size > 1:  # the wall is the ensemble's: its members score without one
    assert all(not os.path.exists(rundir_lib.RunDir(run.member_dir(k)).file(
        run.SUPPORT_WALL_FILE)) for k in range(ensemble_size))
  # Training rows are inside: the walled energy is the energy there.
  np.testing.assert_allclose(restored.model.energy(x_train).numpy(), values, rtol=1e-5)
  # Column a 3 spans out (scaled): the wall adds scale * 0.5 * ((3 - 1.1) / 0.1)^2.
  outside = x_train[:4].copy()
  outside[:, 0] = 1.0 + 3.0
  added = restored.model.energy(outside).numpy() - unwalled(outside).numpy()
  np.testing.assert_allclose(added, wall.scale * 0.5 * ((4.0 - 1.1) / 0.1) ** 2, rtol=1e-3)
  # The thresholds were fit with the wall, and the exported scorer decides and explains with
  # it: raw records far beyond column a's training range are anomalous, and a is named.
  assert restored.thresholds.step == 6
  paths = engan_tf.export(model_dir, str(tmp_path / "exported"))
  scorer = tf.saved_model.load(paths["scorer"])
  served = scorer.signatures["serving_default"](x=tf.constant(outside))
  np.testing.assert_allclose(served["energy"].numpy(),
                             restored.model.energy(outside).numpy(), rtol=1e-4)
  records = {"a": tf.constant([100.0, 0.0]), "b": tf.constant([0.0, 0.0]),
             "proto": tf.constant(["tcp", "tcp"])}
  decided = scorer.signatures["score_records"](**records)
  assert decided["is_anomaly"].numpy()[0] and decided["top_column"].numpy()[0] == b"a"


def test_no_wall_when_turned_off_or_not_a_table(tmp_path):
  model_dir = str(tmp_path / "run")
  options = dict(dataset="csv", data_path=_table_csv(tmp_path), categorical_columns=["proto"],
                 model_dir=model_dir, ensemble_size=1, **QUICK)
  engan_tf.train(support_margin=0.25, **options)
  assert rundir_lib.RunDir(model_dir).load_support_wall().margin == 0.25
  # Trained on (same step): a wall file that belongs to another setting is removed.
  engan_tf.train(**dict(options, support_margin=-1.0, train_steps=9))
  run = rundir_lib.RunDir(model_dir)
  assert run.load_support_wall() is None
  restored = training.restore(model_dir)
  assert not isinstance(restored.model, support.Walled)
  toy = str(tmp_path / "toy")
  engan_tf.train(dataset="8gaussians", model_dir=toy, **QUICK)
  assert rundir_lib.RunDir(toy).load_support_wall() is None


def test_a_wall_of_another_step_or_a_damaged_file(tmp_path):
  model_dir = str(tmp_path / "run")
  engan_tf.train(dataset="csv", data_path=_table_csv(tmp_path), categorical_columns=["proto"],
                 model_dir=model_dir, ensemble_size=1, **QUICK)
  run = rundir_lib.RunDir(model_dir)
  path = run.file(run.SUPPORT_WALL_FILE)
  with open(path) as f:
    saved = json.load(f)
  with open(path, "w") as f:
    json.dump(dict(saved, step=3), f)
  # A wall fit on another checkpoint's energy does not apply to this one.
  assert not isinstance(training.restore(model_dir).model, support.Walled)
  with open(path, "w") as f:
    json.dump({"step": 6, "margin": "wide"}, f)
  with pytest.raises(ValueError, match="support_wall.json is damaged"):
    training.restore(model_dir)
