"""Each training callback of engan_tf.callbacks on its own, against a stand-in model."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from engan_tf import averaging
from engan_tf import callbacks
from engan_tf import evaluation
from engan_tf import networks
from engan_tf import rundir


class _Model:
  """What the callbacks read of a model: step, stop_training, networks, weight_average."""

  def __init__(self, step=0, weight_average=None):
    keras.utils.set_random_seed(0)
    nets = networks.build_networks("mlp512", (2,), 2, dim=4)
    self.energy, self.generator, self.latent_dim = nets.energy, nets.generator, 2
    self.step, self.stop_training, self.weight_average = step, False, weight_average

  def networks(self):
    return {"energy": self.energy, "generator": self.generator}

  @property
  def for_inference(self):
    return self.weight_average or self


def _attach(callback, model):
  callback.set_model(model)
  return callback


def test_stop_at_step_stops_exactly_at_the_step():
  model = _Model(step=9)
  stop = _attach(callbacks.StopAtStep(10), model)
  stop.on_train_batch_end(0)
  assert not model.stop_training
  model.step = 10
  stop.on_train_batch_end(0)
  assert model.stop_training


def test_deadline_stops_once_the_time_is_up():
  model = _Model()
  later = _attach(callbacks.Deadline(minutes=10), model)
  later.on_train_batch_end(0)
  assert not (later.reached or model.stop_training)
  now = _attach(callbacks.Deadline(minutes=0), model)
  now.on_train_batch_end(0)
  assert now.reached and model.stop_training


def test_divergence_guard_names_the_step_and_quantity():
  model = _Model(step=42)
  guard = _attach(callbacks.DivergenceGuard("/runs/x/checkpoints"), model)
  guard.on_train_batch_end(0, {"e_loss": 1.0, "g_loss": -2.0})
  guard.on_epoch_end(0)
  with pytest.raises(callbacks.TrainingDiverged, match=r"step 42: g_loss = nan.*/runs/x"):
    guard.on_train_batch_end(0, {"e_loss": 1.0, "g_loss": float("nan")})
  model.energy.weights[0].assign(np.full(model.energy.weights[0].shape, np.inf))
  with pytest.raises(callbacks.TrainingDiverged, match="non-finite by generator step 42"):
    guard.on_epoch_end(0)


def test_divergence_guard_names_the_steps_of_a_multi_step_call():
  guard = _attach(callbacks.DivergenceGuard("/runs/x/checkpoints", steps_per_execution=5),
                  _Model(step=40))
  with pytest.raises(callbacks.TrainingDiverged, match=r"within generator steps 36-40: e_loss"):
    guard.on_train_batch_end(0, {"e_loss": float("inf")})


def test_the_weight_average_is_the_bias_corrected_average_of_every_iterate():
  model = _Model()
  decay = 0.9
  average = averaging.WeightAverage(model.energy, model.generator, 2, decay)
  start = [w.numpy() for w in model.energy.weights]
  iterates = []
  for step in range(1, 7):  # one update after each generator step, as the train step does
    iterate = [s + 10.0 * step + np.arange(s.size).reshape(s.shape) for s in start]
    for w, value in zip(model.energy.weights, iterate):
      w.assign(value)
    iterates.append(iterate)
    average.update(tf.constant(step, tf.int64))
  # Closed form: iterate s weighted (1 - d) d^(n - s) / (1 - d^n); the initial weights none.
  n = len(iterates)
  weights = [(1 - decay) * decay**(n - s) / (1 - decay**n) for s in range(1, n + 1)]
  assert abs(sum(weights) - 1.0) < 1e-12
  for index, avg in enumerate(average.energy.weights):
    expected = sum(w * it[index] for w, it in zip(weights, iterates))
    np.testing.assert_allclose(avg.numpy(), expected, rtol=1e-5, atol=1e-4)


def test_the_first_update_replaces_the_initial_weights():
  model = _Model(step=1)
  model.weight_average = averaging.WeightAverage(model.energy, model.generator, 2, 0.999)
  for w in model.energy.weights:
    w.assign(w + 3.0)
  model.weight_average.update(1)
  for avg, w in zip(model.weight_average.energy.weights, model.energy.weights):
    np.testing.assert_allclose(avg.numpy(), w.numpy(), rtol=1e-6)
  # Inference uses the average, not the last iterate.
  assert model.for_inference.energy is model.weight_average.energy


def test_checkpointing_saves_each_epoch_and_the_final_state_once(tmp_path):
  model = _Model(step=10)
  checkpoint = tf.train.Checkpoint(**model.networks())
  manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=5)
  saver = _attach(callbacks.Checkpointing(manager), model)
  saver.on_epoch_end(0)
  assert manager.latest_checkpoint.endswith("ckpt-10")
  saver.save_final(model)  # already saved at step 10
  assert len(manager.checkpoints) == 1
  model.step = 15
  saver.save_final(model)
  assert manager.latest_checkpoint.endswith("ckpt-15") and len(manager.checkpoints) == 2
  model.step = 16
  model.generator.weights[0].assign(np.full(model.generator.weights[0].shape, np.nan))
  with pytest.raises(callbacks.TrainingDiverged, match="nothing was saved"):
    saver.save_final(model)
  assert manager.latest_checkpoint.endswith("ckpt-15")


def test_train_summaries_write_the_epoch_logs_and_the_speed(tmp_path):
  model = _Model(step=0)
  writer = tf.summary.create_file_writer(str(tmp_path))
  summaries = _attach(callbacks.TrainSummaries(writer), model)
  summaries.on_epoch_begin(0)
  model.step = 100
  summaries.on_epoch_end(0, {"e_loss": 0.25})
  writer.flush()
  seen = {}
  for path in tf.io.gfile.glob(os.path.join(str(tmp_path), "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        seen[value.tag] = (event.step, float(tf.make_ndarray(value.tensor)))
  assert seen["train/e_loss"] == (100, 0.25)
  assert seen["train/steps_per_second"][1] > 0


def test_evaluation_runs_every_eval_every_epochs_and_keeps_the_best(tmp_path, monkeypatch):
  values = iter([0.5, 0.9, 0.7])
  monkeypatch.setattr(evaluation, "evaluate",
                      lambda model, source, final, **_: evaluation.Evaluation({"m": next(values)}, None))
  run = rundir.RunDir(str(tmp_path))
  model = _Model()
  writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
  evaluator = _attach(callbacks.Evaluation(None, run, writer, eval_every=2, steps_per_epoch=10,
                                           select_metric="m", verbose=0), model)
  for step in (10, 20, 30, 40):  # epochs 1..4: evaluated after epochs 2 and 4
    model.step = step
    evaluator.on_epoch_end(step // 10 - 1)
  model.step, model.stop_training = 60, True  # training stops: the final evaluation follows
  evaluator.on_epoch_end(5)
  evaluator.run(60, final=True)
  evals = run.read_evals()
  assert [(e["step"], e["final"], e["m"]) for e in evals] == [
      (20, False, 0.5), (40, False, 0.9), (60, True, 0.7)]
  assert [e["selected/step"] for e in evals] == [20, 40, 40]
  assert run.load_selected()["step"] == 40
  assert tf.train.latest_checkpoint(run.selected_dir).endswith("ckpt-40")
  with open(run.file("selected.json")) as f:
    assert json.load(f)["value"] == 0.9
