"""The Keras callbacks a training run composes in `fit`, each doing one thing.

  StopAtStep(train_steps)      stops once the generator has made train_steps updates
  Deadline(minutes)            stops after that much wall time (--max_train_minutes)
  DivergenceGuard(where, k)    raises TrainingDiverged on a non-finite loss or weight
  Checkpointing(manager)       saves a checkpoint at the end of every epoch
  TrainSummaries(writer)       writes the epoch's training metrics and steps/s to TensorBoard
  Evaluation(...)              evaluates every eval_every epochs (and keeps the best model
                               by --select_metric), to eval.jsonl and TensorBoard

The order matters where one callback reads what another decides: DivergenceGuard runs
before Checkpointing (a non-finite model is never saved). `engan_tf.training.prepare` lists
them in that order. (The average of E's weights, --ema_decay, is updated inside the train
step: engan_tf.averaging.)

With --steps_per_execution=k > 1, Keras calls the per-batch hooks once per call of k
generator steps: StopAtStep and Deadline act at that granularity, and DivergenceGuard sees
the epoch's running means of the losses after the call, which stay non-finite once any
step's loss was, so it still stops before the epoch's checkpoint and names the k steps.

Example (a training run: not run by the doctests; engan_tf.training.prepare builds the list):
  >>> history = model.fit(dataset, steps_per_epoch=100, epochs=50, callbacks=[  # doctest: +SKIP
  ...     StopAtStep(5000), DivergenceGuard("runs/x/checkpoints"), Checkpointing(manager)])
"""

import time

import keras
import numpy as np
import tensorflow as tf

from engan_tf import anomaly
from engan_tf import build
from engan_tf import evaluation


class TrainingDiverged(RuntimeError):
  """A loss, energy or weight became NaN or infinite."""


class StopAtStep(keras.callbacks.Callback):
  """Stops training once the generator step reaches `train_steps`."""

  def __init__(self, train_steps):
    super().__init__()
    self.train_steps = int(train_steps)

  def on_train_batch_end(self, batch, logs=None):
    if self.model.step >= self.train_steps:
      self.model.stop_training = True


class Deadline(keras.callbacks.Callback):
  """Stops training after `minutes` of wall time, counted from construction."""

  def __init__(self, minutes):
    super().__init__()
    self.minutes = float(minutes)
    self.deadline = time.monotonic() + 60 * self.minutes
    self.reached = False

  def on_train_batch_end(self, batch, logs=None):
    if time.monotonic() >= self.deadline:
      self.reached = self.model.stop_training = True


def all_finite(model):
  """True if every weight of every trained network is finite."""
  return all(bool(np.all(np.isfinite(v.numpy())))
             for net in model.networks().values() for v in net.weights)


class DivergenceGuard(keras.callbacks.Callback):
  """Raises TrainingDiverged at the first non-finite loss (per call of the train step) or
  weight (per epoch).

  The losses in `logs` are the epoch's running means, so a non-finite loss at any of the
  `steps_per_execution` steps of a call is seen at its end. Raising ends `fit` before the
  epoch's checkpoint, so the last good checkpoint in `checkpoint_dir` stays the latest.
  """

  def __init__(self, checkpoint_dir, steps_per_execution=1):
    super().__init__()
    self.checkpoint_dir = checkpoint_dir
    self.steps_per_execution = int(steps_per_execution)

  def on_train_batch_end(self, batch, logs=None):
    for name, value in (logs or {}).items():
      if not np.isfinite(float(value)):
        step, k = self.model.step, self.steps_per_execution
        where = f"at generator step {step}" if k == 1 else (
            f"within generator steps {step - k + 1}-{step}")
        raise TrainingDiverged(
            f"training diverged {where}: {name} = {float(value)}. "
            f"The last good checkpoint in {self.checkpoint_dir} is kept; try a smaller "
            f"--learning_rate or a larger --lambda_penalty.")

  def on_epoch_end(self, epoch, logs=None):
    if not all_finite(self.model):
      raise TrainingDiverged(f"a weight became non-finite by generator step {self.model.step}; "
                             f"the last good checkpoint in {self.checkpoint_dir} is kept.")


class Checkpointing(keras.callbacks.Callback):
  """Saves `manager`'s checkpoint, numbered by the generator step, after every epoch."""

  def __init__(self, manager):
    super().__init__()
    self.manager = manager

  def on_epoch_end(self, epoch, logs=None):
    self.manager.save(checkpoint_number=self.model.step)

  def save_final(self, model):
    """Saves the final state unless the last epoch's checkpoint already holds it."""
    step = model.step
    latest = self.manager.latest_checkpoint
    if latest is None or not latest.endswith(f"-{step}"):
      if not all_finite(model):
        raise TrainingDiverged(f"a weight is non-finite at step {step}; nothing was saved")
      self.manager.save(checkpoint_number=step)


class TrainSummaries(keras.callbacks.Callback):
  """The epoch's training metrics (train/<name>) and train/steps_per_second to TensorBoard."""

  def __init__(self, writer):
    super().__init__()
    self.writer = writer
    self._start = None

  def on_epoch_begin(self, epoch, logs=None):
    self._start = (time.perf_counter(), self.model.step)

  def on_epoch_end(self, epoch, logs=None):
    step = self.model.step
    t0, step0 = self._start
    with self.writer.as_default(step=step):
      for name, value in (logs or {}).items():
        tf.summary.scalar(f"train/{name}", float(value))
      tf.summary.scalar("train/steps_per_second", (step - step0) / (time.perf_counter() - t0))


class Evaluation(keras.callbacks.Callback):
  """Evaluates the model every `eval_every` epochs; `run` also does the final evaluation.

  Each evaluation (engan_tf.evaluation: the data kind's metrics and picture) goes to
  `run_dir`'s eval.jsonl and to TensorBoard. With `select_metric`, the best evaluated
  model so far is kept in run_dir/selected/ (it survives a resume through selected.json),
  and every evaluation also reports "selected/<metric>" of that model. An epoch after
  which training stops is not evaluated here: the final evaluation follows.
  """

  def __init__(self, source, run_dir, writer, eval_every, steps_per_epoch, select_metric="",
               verbose=1, **evaluation_options):
    super().__init__()
    self.evaluation_options = evaluation_options  # e.g. false_alarm_rate (anomaly data)
    self.source, self.run_dir, self.writer = source, run_dir, writer
    self.eval_every, self.steps_per_epoch = eval_every, steps_per_epoch
    self.select_metric, self.verbose = select_metric, verbose
    self.selected = run_dir.load_selected() if select_metric else None

  def _due(self, step):
    return bool(self.eval_every) and step > 0 and step % self.steps_per_epoch == 0 and (
        (step // self.steps_per_epoch) % self.eval_every == 0)

  def on_train_begin(self, logs=None):
    # A run killed between a checkpoint and its evaluation resumes at that checkpoint:
    # evaluate it now, so eval.jsonl misses no step.
    step = self.model.step
    if self._due(step) and step not in {r["step"] for r in self.run_dir.read_evals()}:
      self.run(step, final=False)

  def on_epoch_end(self, epoch, logs=None):
    step = self.model.step
    if self._due(step) and not self.model.stop_training:
      self.run(step, final=False)

  def run(self, step, final, model=None, inference=None):
    """Evaluates `model` (default: the fitted one) at `step`; returns the Evaluation.

    inference: what is scored (default: model.for_inference; the training driver passes
    the final model with its support wall, engan_tf.support); selection keeps `model`.
    """
    model = model or self.model
    result = evaluation.evaluate(inference or model.for_inference, self.source, final=final,
                                 step=step, **self.evaluation_options)
    metrics = dict(result.metrics)
    if self.select_metric:
      metrics.update(self._select(model, step, result.metrics))
    with self.writer.as_default(step=step):
      for name, value in metrics.items():
        tf.summary.scalar(f"eval/{name}", value)
      if result.picture is not None:
        tf.summary.image(result.picture_name, result.picture[None])
    self.run_dir.append_eval({"step": step, "final": final, **metrics})
    if self.verbose and result.metrics:
      print(f"eval @ step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items()))
    return evaluation.Evaluation(metrics, result.picture, result.picture_name)

  def _select(self, model, step, metrics):
    """Keeps the evaluated model if it is the best by select_metric so far.

    Returns "selected/<name>" for every metric of the selected model's evaluation (what a
    user who deploys the selected model would get) and "selected/step".
    """
    name = self.select_metric
    if name not in metrics:
      raise ValueError(f"--select_metric={name!r} is not a metric of this evaluation; "
                       f"choose one of: {', '.join(sorted(metrics))}")
    value = metrics[name]
    if self.selected is not None and self.selected["metric"] != name:
      self.selected = None  # resumed with another --select_metric: values do not compare
    if np.isfinite(value) and (self.selected is None or value > self.selected["value"]):
      checkpoint = tf.train.Checkpoint(**build.inference_checkpoint(model))
      tf.train.CheckpointManager(checkpoint, self.run_dir.selected_dir,
                                 max_to_keep=1).save(checkpoint_number=step)
      self.selected = {"step": step, "metric": name, "value": value, "metrics": metrics}
      self.run_dir.save_selected(self.selected)
      if getattr(self.source, "anomaly", None) is not None:  # the selected model's thresholds
        self.run_dir.save_thresholds(anomaly.fit_thresholds(
            model.for_inference.energy, self.source.anomaly, step,
            self.evaluation_options.get("false_alarm_rate", 0.05)), checkpoint="selected")
    if self.selected is None:  # nothing finite to select yet
      return {}
    return {"selected/step": self.selected["step"],
            **{f"selected/{k}": v for k, v in self.selected["metrics"].items()}}
