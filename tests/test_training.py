"""Algorithm 1's training step, distribution, checkpoints, resume, divergence and the CLI."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from engan_tf import build
from engan_tf import data
from engan_tf import distribute
from engan_tf import evaluation
from engan_tf import model as model_lib
from engan_tf import networks
from engan_tf import rundir
from engan_tf import training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sgd_model(n_critic=2):
  keras.utils.set_random_seed(0)
  nets = networks.build_networks("mlp512", (2,), 2, dim=16)
  model = model_lib.EnGAN(*nets, latent_dim=2, n_critic=n_critic, lambda_penalty=0.1)
  model.compile(*[keras.optimizers.SGD(0.05) for _ in range(3)], jit_compile=False)
  model.build_optimizers()
  return model


def _noise_as_data(batch=8, n_critic=2):
  rng = np.random.RandomState(0)
  z = rng.randn(batch, 2).astype(np.float32)
  # The per-dimension shuffle of the *global* batch, fed in as data, so one device and
  # two replicas see exactly the same negatives.
  z_marginal = np.stack([z[rng.permutation(batch), j] for j in range(2)], 1)
  return {
      "x": rng.randn(batch, n_critic, 2).astype(np.float32),
      "z_critic": rng.randn(batch, n_critic, 2).astype(np.float32),
      "z": z,
      "z_marginal": z_marginal,
  }


def _weights(model):
  return [v.numpy() for v in model.energy.weights + model.generator.weights
          + model.statistics.weights]


def test_one_step_under_mirrored_strategy_equals_one_device():
  batch = _noise_as_data()
  ds = tf.data.Dataset.from_tensors(batch).repeat()
  single = _sgd_model()
  initial = _weights(single)
  single.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)

  strategy = distribute.make_strategy("mirrored")  # the two logical CPUs of conftest.py
  assert strategy.num_replicas_in_sync == 2
  with strategy.scope():
    mirrored = _sgd_model()
  for a, b in zip(initial, _weights(mirrored)):
    np.testing.assert_array_equal(a, b)
  mirrored.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)

  moved = 0
  for before, a, b in zip(initial, _weights(single), _weights(mirrored)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    moved += not np.allclose(before, a)
  # Every variable of E, G and T moved, but E's output bias: mean E(real) - mean E(fake)
  # does not depend on it.
  assert moved == len(initial) - 1
  assert int(mirrored.e_optimizer.iterations.numpy()) == 2
  assert int(mirrored.g_optimizer.iterations.numpy()) == 1


def test_critic_steps_use_fresh_minibatches_and_the_counters_advance():
  model = _sgd_model(n_critic=3)
  source = data.load_dataset("8gaussians")
  model.fit(source.train_dataset(16, 3, 0), steps_per_epoch=4, epochs=1, verbose=0)
  assert int(model.g_optimizer.iterations.numpy()) == 4
  assert int(model.t_optimizer.iterations.numpy()) == 4
  assert int(model.e_optimizer.iterations.numpy()) == 12


def _config(tmp_path, **overrides):
  # Tracing the train step costs most of a short run, and it grows with n_critic (the
  # critic loop is unrolled); XLA compilation adds more. The toy run below, the kill test
  # and the mirrored tests keep the defaults' paths.
  values = dict(dataset="25gaussians", model_dir=str(tmp_path / "run"), dim=32,
                batch_size=64, train_steps=20, steps_per_epoch=10, eval_every=0, verbose=0,
                n_critic=2, jit_compile=False)
  values.update(overrides)
  return training.TrainConfig(**values)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  """A run of _config trained to step 10 (checkpoints at 5 and 10), shared read-only."""
  config = _config(tmp_path_factory.mktemp("trained"), train_steps=10, steps_per_epoch=5)
  training.train(config)
  return config


def _copy_of(trained_run, tmp_path):
  """The shared run copied to tmp_path/run (the _config default), for a test to change."""
  shutil.copytree(trained_run.model_dir, tmp_path / "run")
  return dataclasses.replace(trained_run, model_dir=str(tmp_path / "run"))


def test_a_short_toy_run_separates_real_from_fake_and_covers_more_modes(tmp_path):
  # 8gaussians: its well-separated modes are found within a short CPU budget.
  config = _config(tmp_path, dataset="8gaussians", dim=128, batch_size=128, train_steps=400,
                   steps_per_epoch=200, learning_rate=1e-3, n_critic=5, jit_compile=True)
  source = data.load_dataset("8gaussians")
  resolved = build.resolve(config, source)
  keras.utils.set_random_seed(0)
  at_init = evaluation.evaluate_toy(build.build_model(resolved, source), source, final=False)
  summary = training.train(config)
  after = summary["final_eval"]
  assert after["modes_covered"] > at_init.metrics["modes_covered"]
  assert after["high_quality_fraction"] > at_init.metrics["high_quality_fraction"]
  trained = training.restore(config.model_dir).model
  x = source.toy_density.sample(tf.constant([9, 9]), 4096)
  e_real = float(tf.reduce_mean(trained.energy(x)))
  e_fake = float(tf.reduce_mean(trained.energy(evaluation.generate(trained, 4096))))
  assert e_real < e_fake
  for name in ("samples.png", "final_eval.json", "eval.jsonl", "config.json"):
    assert os.path.exists(os.path.join(config.model_dir, name))
  assert tf.io.gfile.glob(os.path.join(config.model_dir, "tensorboard", "events.*"))


def test_resume_continues_the_step_counter(trained_run, tmp_path):
  config = _copy_of(trained_run, tmp_path)  # at step 10
  summary = training.train(dataclasses.replace(config, train_steps=30))
  assert summary["step"] == 30
  model = training.restore(str(tmp_path / "run")).model
  assert int(model.g_optimizer.iterations.numpy()) == 30
  assert int(model.e_optimizer.iterations.numpy()) == 30 * config.n_critic


def test_energy_learning_rate_sets_e_s_adam_only_and_wins_on_resume(trained_run, tmp_path):
  config = _copy_of(trained_run, tmp_path)  # at step 10, trained with one learning rate
  training.train(dataclasses.replace(config, train_steps=20, learning_rate=1e-3,
                                     energy_learning_rate=1e-5))
  model = training.restore(str(tmp_path / "run")).model
  assert float(model.e_optimizer.learning_rate.numpy()) == pytest.approx(1e-5)
  assert float(model.g_optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
  assert float(model.t_optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
  # Resumed without the flag, E goes back to --learning_rate (the command line wins); the
  # run is already at its --train_steps, so nothing trains, but the rates are set.
  summary = training.train(dataclasses.replace(config, train_steps=20, learning_rate=1e-3))
  assert summary["step"] == 20
  assert float(summary["model"].e_optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
  with pytest.raises(ValueError, match="--energy_learning_rate must be > 0"):
    training.train(_config(tmp_path, energy_learning_rate=0.0))


class _RecordRates(keras.callbacks.Callback):
  """[(generator step after the batch, [each optimizer's rate])] of every batch."""

  def __init__(self):
    super().__init__()
    self.rates = []

  def on_train_batch_end(self, batch, logs=None):
    self.rates.append((self.model.step, [float(o.learning_rate.numpy())
                                         for o, _ in self.model.optimizers_and_variables()]))


@pytest.mark.parametrize("shape", ["linear", "cosine"])
def test_lr_decay_sets_every_rate_by_generator_step_to_the_closed_form(shape):
  # 10 generator steps, n_critic 3 (E's optimizer steps 30 times), decay from step 4 to
  # 0.1 x the base rates at step 10: the update taking the counter from s to s + 1 uses
  # base * factor(s), the same for E (base 0.02) as for G and T (base 0.05).
  model = _sgd_model(n_critic=3)
  config = training.TrainConfig(train_steps=10, learning_rate=0.05, energy_learning_rate=0.02,
                                lr_decay_start=0.4, lr_decay_final=0.1, lr_decay_shape=shape)
  build.set_learning_rates(model, config)
  record = _RecordRates()
  source = data.load_dataset("8gaussians")
  model.fit(source.train_dataset(16, 3, 0), steps_per_epoch=10, epochs=1, verbose=0,
            callbacks=[record])
  assert int(model.e_optimizer.iterations.numpy()) == 30
  for after, rates in record.rates:
    s = after - 1
    p = min(max((s - 4) / 6, 0.0), 1.0)
    factor = (1 - 0.9 * p if shape == "linear" else 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * p)))
    assert rates == pytest.approx([0.02 * factor, 0.05 * factor, 0.05 * factor], rel=1e-5)
  assert [after for after, _ in record.rates] == list(range(1, 11))
  assert record.rates[-1][1][1] == pytest.approx(0.05 * (1 - 0.9 * 5 / 6) if shape == "linear"
                                                 else 0.05 * (0.1 + 0.45 * (1 + np.cos(np.pi * 5 / 6))),
                                                 rel=1e-5)


def test_a_resumed_run_continues_the_lr_decay_from_its_step(trained_run, tmp_path):
  config = _copy_of(trained_run, tmp_path)  # at step 10, constant rates (the default)
  assert config.lr_decay_start == 1.0  # the default: constant rates
  decayed = dataclasses.replace(config, train_steps=20, learning_rate=1e-3,
                                energy_learning_rate=1e-4, lr_decay_start=0.5,
                                lr_decay_final=0.1, jit_compile=True)
  summary = training.train(decayed)
  assert summary["step"] == 20
  # The last update (step 19) ran at factor(19) = 1 - 0.9 * 9/10 of the base rates; a
  # schedule that restarted at the resumed step would still be at its base rates.
  factor = 1 - 0.9 * 9 / 10
  model = summary["model"]
  assert [float(o.learning_rate.numpy()) for o, _ in model.optimizers_and_variables()] == (
      pytest.approx([1e-4 * factor, 1e-3 * factor, 1e-3 * factor], rel=1e-5))
  saved = json.load(open(os.path.join(decayed.model_dir, "config.json")))
  assert (saved["lr_decay_start"], saved["lr_decay_final"], saved["lr_decay_shape"]) == (
      0.5, 0.1, "linear")
  # Its checkpoint (same layout as a constant-rate one) restores, and the schedule continues
  # from the restored step: resumed to 40, step 39's rate is the new schedule's closed form.
  summary = training.train(dataclasses.replace(decayed, train_steps=40))
  assert summary["step"] == 40
  assert float(summary["model"].g_optimizer.learning_rate.numpy()) == pytest.approx(
      1e-3 * (1 - 0.9 * 19 / 20), rel=1e-5)
  with pytest.raises(ValueError, match="--lr_decay_start must be in"):
    training.train(dataclasses.replace(decayed, lr_decay_start=1.5))


def test_max_train_minutes_stops_checkpoints_and_evaluates(tmp_path):
  # A budget of ~0.6 s stops a 100,000-step run early, at a step that is checkpointed.
  summary = training.train(_config(tmp_path, train_steps=100_000, steps_per_epoch=50_000,
                                   max_train_minutes=0.01))
  step = summary["step"]
  assert 0 < step < 100_000
  with open(tmp_path / "run" / "final_eval.json") as f:
    saved = json.load(f)
  assert saved["stopped_by"] == "--max_train_minutes=0.01" and saved["step"] == step
  assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith(f"-{step}")


def test_select_metric_keeps_the_best_evaluated_model(tmp_path):
  config = _config(tmp_path, train_steps=30, eval_every=1, select_metric="log_likelihood")
  training.train(config)
  with open(tmp_path / "run" / "eval.jsonl") as f:
    evals = [json.loads(line) for line in f]
  assert [e["step"] for e in evals] == [10, 20, 30]
  best = max(evals, key=lambda e: e["log_likelihood"])
  selected = rundir.RunDir(config.model_dir).load_selected()
  assert (selected["step"], selected["value"]) == (best["step"], best["log_likelihood"])
  # Each evaluation reports the model selected so far.
  for i, e in enumerate(evals):
    so_far = max(evals[:i + 1], key=lambda e: e["log_likelihood"])
    assert e["selected/step"] == so_far["step"]
    assert e["selected/log_likelihood"] == so_far["log_likelihood"]
  # restore(checkpoint="selected") gives back that model.
  source, model = training.restore(config.model_dir, checkpoint="selected")[1:3]
  assert int(model.g_optimizer.iterations.numpy()) == best["step"]
  again = evaluation.evaluate_toy(model, source, final=best["final"]).metrics
  assert again["log_likelihood"] == pytest.approx(best["log_likelihood"], abs=1e-5)


def test_select_metric_errors_name_what_to_do(trained_run, tmp_path):
  config = _copy_of(trained_run, tmp_path)
  # Already at --train_steps: the final evaluation is the first to select.
  with pytest.raises(ValueError, match="choose one of: .*log_likelihood"):
    training.train(dataclasses.replace(config, eval_every=1, select_metric="nope"))
  with pytest.raises(ValueError, match="--validation_share"):
    training.train(_config(tmp_path, model_dir=str(tmp_path / "b"),
                           select_metric="score_norm/val_auroc_shuffled"))
  with pytest.raises(FileNotFoundError, match="--select_metric"):
    training.restore(str(tmp_path / "run"), checkpoint="selected")


def test_a_model_dir_keeps_its_architecture(trained_run, tmp_path):
  config = _copy_of(trained_run, tmp_path)
  with pytest.raises(ValueError, match="dim=32.*dim=64.*new --model_dir"):
    training.train(dataclasses.replace(config, train_steps=20, dim=64))


def test_divergence_stops_with_the_step_and_quantity_and_keeps_the_good_checkpoint(
    trained_run, tmp_path):
  config = _copy_of(trained_run, tmp_path)  # at step 10, steps_per_epoch=5
  ckpt_dir = os.path.join(config.model_dir, "checkpoints")
  good = tf.train.latest_checkpoint(ckpt_dir)
  # A learning rate of 1e30 sends the weights to infinity within a few steps.
  with pytest.raises(training.TrainingDiverged, match=r"step \d+: \w+ = (nan|inf|-inf)"):
    training.train(dataclasses.replace(config, train_steps=1000, learning_rate=1e30))
  assert tf.train.latest_checkpoint(ckpt_dir) == good
  model = training.restore(config.model_dir).model
  assert all(np.isfinite(w).all() for w in _weights(model))


@pytest.mark.parametrize("flags,message", [
    (["--dataset=nope"], "--dataset=nope: value should be one of"),
    (["--n_critic=0"], "--n_critic must be > 0"),
    (["--beta_1=1.5"], "--beta_1 and --beta_2 must be in"),
    (["--strategy=bogus"], "--strategy"),
])
def test_cli_bad_values_get_one_clear_error(tmp_path, flags, message):
  proc = subprocess.run([sys.executable, "train.py", f"--model_dir={tmp_path}/x", *flags],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not os.path.exists(tmp_path / "x" / "checkpoints")


def test_kill_minus_9_then_rerun_finishes_without_losing_steps(tmp_path):
  model_dir = tmp_path / "killed"
  cmd = [sys.executable, "train.py", f"--model_dir={model_dir}", "--dim=32", "--batch_size=32",
         "--train_steps=1000", "--steps_per_epoch=100", "--eval_every=1", "--verbose=2",
         "--n_critic=2"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  ckpt_dir = model_dir / "checkpoints"
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if tf.train.latest_checkpoint(str(ckpt_dir)):
      break
    time.sleep(0.05)
  assert proc.poll() is None, "the run ended before it could be killed"
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  killed_at = int(tf.train.latest_checkpoint(str(ckpt_dir)).rsplit("-", 1)[1])
  assert 0 < killed_at < 1000

  rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert rerun.returncode == 0, rerun.stderr[-2000:]
  resumed_at = int(rerun.stdout.split("resuming at generator step ")[1].split()[0])
  assert resumed_at >= killed_at
  model = training.restore(str(model_dir)).model
  assert int(model.g_optimizer.iterations.numpy()) == 1000
  assert int(model.e_optimizer.iterations.numpy()) == 1000 * 2
  with open(model_dir / "final_eval.json") as f:
    assert json.load(f)["step"] == 1000
  # Every evaluation of an uninterrupted run, once: none lost to the kill, none repeated.
  evals = rundir.RunDir(str(model_dir)).read_evals()
  assert [(e["step"], e["final"]) for e in evals] == (
      [(step, False) for step in range(100, 1000, 100)] + [(1000, True)])


def _averaged_fit(steps_per_execution):
  keras.utils.set_random_seed(0)
  nets = networks.build_networks("mlp512", (2,), 2, dim=16)
  model = model_lib.EnGAN(*nets, latent_dim=2, n_critic=2, ema_decay=0.9)
  model.compile(*[keras.optimizers.Adam(1e-2) for _ in range(3)], jit_compile=False,
                steps_per_execution=steps_per_execution)
  model.build_optimizers()
  iterates = []
  record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: iterates.append(
      [w.numpy() for w in model.energy.weights]))
  x = tf.random.stateless_normal([8, 2, 2], [0, 1])
  model.fit(tf.data.Dataset.from_tensors(x).repeat(), steps_per_epoch=6, epochs=1, verbose=0,
            callbacks=[record])
  return model, iterates


def test_the_weight_average_sees_every_step_whatever_steps_per_execution_is():
  one, iterates = _averaged_fit(1)
  three, _ = _averaged_fit(3)
  assert three.step == one.step == 6
  for a, b in zip(one.weight_average.energy.weights, three.weight_average.energy.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
  # ... and is the bias-corrected average of the 6 iterates (not of every third one).
  weights = [0.1 * 0.9**(6 - s) / (1 - 0.9**6) for s in range(1, 7)]
  for index, avg in enumerate(three.weight_average.energy.weights):
    expected = sum(w * it[index] for w, it in zip(weights, iterates))
    np.testing.assert_allclose(avg.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_the_train_step_is_traced_once():
  model = _sgd_model(n_critic=3)
  traces = []
  step = model.train_step

  def counting_step(data):  # the Python body runs only while tracing
    traces.append(1)
    return step(data)

  model.train_step = counting_step
  source = data.load_dataset("25gaussians")
  model.fit(source.train_dataset(16, 3, 0), steps_per_epoch=4, epochs=3, verbose=0)
  model.fit(source.train_dataset(16, 3, 1), steps_per_epoch=2, epochs=1, verbose=0)
  assert int(model.g_optimizer.iterations.numpy()) == 14
  assert len(traces) == 1


def test_mixed_precision_computes_in_bfloat16_with_float32_variables_and_outputs(tmp_path):
  summary = training.train(_config(tmp_path, train_steps=4, steps_per_epoch=2,
                                   mixed_precision=True, jit_compile=False))
  model = summary["model"]
  assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
  dense = [l for l in model.energy.layers if isinstance(l, keras.layers.Dense)]
  assert dense[0].compute_dtype == "bfloat16" and dense[0].kernel.dtype == "float32"
  energy = model.energy(tf.zeros([3, 2]))
  assert energy.dtype == tf.float32 and energy.shape == (3,)
  assert model.generator(tf.zeros([3, 2])).dtype == tf.float32
  assert all(np.isfinite(w).all() for w in _weights(model))
  restored = training.restore(str(tmp_path / "run")).model  # same structure on restore
  np.testing.assert_allclose(restored.energy(tf.zeros([3, 2])), energy)


def test_num_threads_after_tensorflow_started_warns_instead_of_failing(caplog):
  tf.constant(1.0) + 1.0  # TensorFlow is running in this process: its pools are fixed
  before = tf.config.threading.get_intra_op_parallelism_threads()
  training._set_threads(before + 3)  # pylint: disable=protected-access
  assert "ignored: TensorFlow already runs in this process" in caplog.text
  assert tf.config.threading.get_intra_op_parallelism_threads() == before
