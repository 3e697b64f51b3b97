"""The training driver: `train(config)` runs a resumable run; `restore(model_dir)` reads one back.

`train(TrainConfig(...))` runs Algorithm 1 (`engan_tf.model.EnGAN`) for `train_steps`
generator updates as a Keras `fit` with small callbacks (engan_tf.callbacks). It is
resumable: the networks, the optimizers (their `iterations` are the step counters), the
random generator's state and the weight average are checkpointed every `steps_per_epoch`
steps and at the end; running the same command again continues from the last checkpoint.
A diverging run stops with `TrainingDiverged` before it can write a non-finite checkpoint.
Every file of the run belongs to its `RunDir` (engan_tf.rundir).

Example (trains a model and writes /tmp/run: not run by the doctests):
  >>> result = train(TrainConfig(dataset="25gaussians", model_dir="/tmp/run",  # doctest: +SKIP
  ...                            train_steps=200))
  >>> result["step"]  # doctest: +SKIP
  200
  >>> covered = result["final_eval"]["modes_covered"]   # of the 25  # doctest: +SKIP
  >>> restored = restore("/tmp/run")  # doctest: +SKIP
  >>> restored.model.energy(tf.zeros([4, 2])).shape  # doctest: +SKIP
  TensorShape([4])
"""

import dataclasses
import math
import sys
from typing import NamedTuple, Optional

from absl import logging
import keras
import tensorflow as tf

from engan_tf import anomaly
from engan_tf import build
from engan_tf import callbacks as callbacks_lib
from engan_tf import data as data_lib
from engan_tf import distribute
from engan_tf import ensemble as ensemble_lib
from engan_tf import evaluation as evaluation_lib
from engan_tf import rundir as rundir_lib
from engan_tf import support
from engan_tf import visualize
from engan_tf.callbacks import TrainingDiverged  # noqa: F401  (re-exported for callers)
from engan_tf.config import TrainConfig  # noqa: F401  (re-exported for callers)


def load_source(config, data_dir=None, preprocessing=None):
  """The DataSource of a run's config (data_dir overrides the run's own).

  `preprocessing`: a trained model's saved tabular preprocessing, used instead of refitting.
  """
  options = dict(config.dataset_options)
  if preprocessing is not None:
    options["preprocessing"] = preprocessing
  return data_lib.load_dataset(config.dataset, data_dir=data_dir or config.data_dir,
                               seed=config.seed, **options)


def _warn_if_data_changed(run, source):
  """Warns when the file at the data path is not the one the run was trained on."""
  saved, now = run.data_fingerprint(), source.fingerprint
  if saved and now and (saved["sha256"], saved["rows"]) != (now["sha256"], now["rows"]):
    message = (f"the data at {now['path']} (sha256 {now['sha256'][:12]}..., {now['rows']} "
               f"rows) is not the file {run.path} was trained on (sha256 "
               f"{saved['sha256'][:12]}..., {saved['rows']} rows, then at {saved['path']}). "
               "Its saved preprocessing is used as it is; scores on the new rows are in the "
               "trained model's feature space.")
    _warn(message)


def _warn(message):
  """A warning a user sees: in the log and on stderr (absl's log is not shown by default)."""
  logging.warning(message)
  print(f"warning: {message}", file=sys.stderr)


def _check_data_for_config(config, source):
  if config.select_metric.endswith("val_auroc_shuffled") and (
      source.anomaly is None or source.anomaly.x_val is None):
    raise ValueError(f"--select_metric={config.select_metric} scores a validation split: "
                     f"add --validation_share (e.g. 0.1); {config.dataset} has none without it")


class Prepared(NamedTuple):
  """A run ready for `fit`: what `prepare` built, in the order `train` uses it."""
  config: TrainConfig  # resolved: the data set's recipe and defaults filled in
  run: rundir_lib.RunDir
  source: data_lib.DataSource
  strategy: tf.distribute.Strategy
  chief: bool
  out_dir: str  # where this worker writes (the model_dir on the chief)
  model: object  # the compiled model, restored from the latest checkpoint if any
  writer: tf.summary.SummaryWriter
  checkpointing: callbacks_lib.Checkpointing
  evaluation: callbacks_lib.Evaluation
  deadline: Optional[callbacks_lib.Deadline]
  callbacks: list  # fit's callbacks, in the order engan_tf.callbacks requires

  def dataset(self):
    """The training stream from the model's current step (one pipeline per worker)."""
    return distribute.distributed_dataset(self.source, self.config, self.strategy,
                                          self.model.step)


class _Run(NamedTuple):
  """A run's data and model_dir files, before any model: what `_start_run` returns."""
  config: TrainConfig  # resolved: the data set's recipe and defaults filled in
  run: rundir_lib.RunDir
  source: data_lib.DataSource
  strategy: tf.distribute.Strategy
  chief: bool
  out_dir: str


def prepare(config: TrainConfig) -> Prepared:
  """Everything `train` does before `fit`: threads, data, model_dir files, the compiled
  model (resumed from the latest checkpoint) and fit's callbacks (one run: an
  --ensemble_size > 1 config is trained by `train`, member by member).

  bench/toy_step_speed.py times `fit` on what this returns, so what it measures is the
  step and callbacks of a real run.
  """
  started = _start_run(config)
  if started.config.ensemble_size > 1:
    raise ValueError("prepare() builds one run; train() trains an ensemble's members")
  return _prepare_fit(started)


def _set_threads(n):
  """TensorFlow's thread pools at n threads; once TensorFlow has run an op in this process
  they are fixed, and a second run (a notebook, an ensemble's members) keeps them."""
  current = (tf.config.threading.get_intra_op_parallelism_threads(),
             tf.config.threading.get_inter_op_parallelism_threads())
  try:  # TensorFlow accepts the value its pools already have, even after they started
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)
  except RuntimeError:  # "cannot be modified after initialization"
    logging.warning("--num_threads=%d ignored: TensorFlow already runs in this process with "
                    "its thread pools set (intra/inter-op %s; 0 = all cores); set "
                    "num_threads before its first op, or start a new process", n, current)


def _start_run(config: TrainConfig, source=None) -> _Run:
  """Validates config, sets threads, loads the data (unless `source`, an ensemble's, is
  given), applies the recipe and writes the model_dir's config and data files."""
  config.validate()
  # --verbose unset: a progress bar on a terminal, one line per epoch in a log file (a bar
  # writes hundreds of carriage-return updates there).
  config = dataclasses.replace(config, verbose=resolve_verbose(config.verbose))
  if config.num_threads:
    _set_threads(config.num_threads)
  strategy = distribute.make_strategy(config.strategy)
  chief = distribute.is_chief(strategy)
  run = rundir_lib.RunDir(config.model_dir)
  described, preprocessing = run.load_data_description()  # a resumed run keeps its features
  if source is None:
    source = load_source(config, preprocessing=preprocessing)
    _warn_if_data_changed(run, source)
  _check_data_for_config(config, source)
  chosen = build.recipe_choices(config, source)
  if chosen and config.verbose and chief:
    print(f"--recipe=auto for {source.name}: " + ", ".join(
        f"--{k}={v}" for k, v in chosen.items()) + " (engan_tf/recipes.py; --recipe=paper or "
          "the flags override it)")
  config = build.resolve(config, source)
  source = build.cap_training_rows(source, config)
  keras.utils.set_random_seed(config.seed)  # initial weights and every unseeded draw
  run.check_same_run(config)
  out_dir = distribute.writable_dir(config.model_dir, strategy)
  tf.io.gfile.makedirs(out_dir)
  if chief:
    run.write_config(config, run.data_fingerprint() or source.fingerprint)
    if described is None:
      run.save_data_description(data_lib.describe(source),
                                source.tabular.model if source.tabular else None)
    if source.anomaly is not None and run.load_feature_statistics() is None:
      run.save_feature_statistics(source.anomaly.x_train)  # the energy explanations' baseline
  return _Run(config, run, source, strategy, chief, out_dir)


def _prepare_fit(started: _Run) -> Prepared:
  """The compiled model of a started run (resumed from its latest checkpoint) and fit's
  callbacks."""
  config, run, source, strategy, chief, out_dir = started
  with strategy.scope():
    model = build.build_model(config, source)
  checkpoint = tf.train.Checkpoint(**build.training_checkpoint(model))
  manager = tf.train.CheckpointManager(checkpoint, run.checkpoint_dir(out_dir), max_to_keep=3)
  latest = tf.train.latest_checkpoint(run.checkpoint_dir())  # every worker resumes the chief's
  if latest:
    checkpoint.restore(latest).assert_existing_objects_matched()
    build.set_learning_rates(model, config)  # the command line wins over the checkpoint's
  writer = tf.summary.create_file_writer(rundir_lib.RunDir(out_dir).tensorboard_dir)
  checkpointing = callbacks_lib.Checkpointing(manager)
  evaluation = callbacks_lib.Evaluation(source, run, writer, config.eval_every,
                                        config.steps_per_epoch, config.select_metric,
                                        config.verbose, false_alarm_rate=config.false_alarm_rate)
  deadline = (callbacks_lib.Deadline(config.max_train_minutes)
              if config.max_train_minutes else None)
  fit_callbacks = [callbacks_lib.StopAtStep(config.train_steps), deadline,
                   callbacks_lib.DivergenceGuard(manager.directory, config.steps_per_execution),
                   checkpointing,
                   callbacks_lib.TrainSummaries(writer), evaluation if chief else None]
  fit_callbacks = [c for c in fit_callbacks if c is not None]
  return Prepared(config, run, source, strategy, chief, out_dir, model, writer, checkpointing,
                  evaluation, deadline, fit_callbacks)


def train(config: TrainConfig):
  """Trains (or resumes) the run in config.model_dir.

  Returns {"step": final step, "final_eval": metrics (empty on non-chief workers),
  "model": the trained model}.
  """
  return _train(config)


def _train(config, source=None):
  started = _start_run(config, source)
  if started.config.ensemble_size > 1:
    return _train_ensemble(started.config, started.run, started.source)
  prepared = _prepare_fit(started)
  config, run, source, model, writer = (prepared.config, prepared.run, prepared.source,
                                        prepared.model, prepared.writer)
  _fit(prepared)
  prepared.checkpointing.save_final(model)
  step = model.step
  writer.flush()
  if not prepared.chief:
    tf.io.gfile.rmtree(prepared.out_dir)  # the chief's copy is the run's
    return {"step": step, "final_eval": {}, "model": model}

  inference = _fit_support_wall(run, config, source, model.for_inference, step)
  final = prepared.evaluation.run(step, final=True, model=model, inference=inference)
  stopped_by = (f"--max_train_minutes={config.max_train_minutes:g}"
                if prepared.deadline is not None and prepared.deadline.reached else None)
  summary = _save_final(run, config, source, inference.energy, step, final,
                        stopped_by=stopped_by)
  writer.flush()
  return {**summary, "model": model}


def _save_final(run, config, source, energy, step, final, decision_function=None,
                stopped_by=None):
  """The end of a run's files: the final evaluation's picture, the anomaly thresholds of
  `energy` and final_eval.json; returns the summary written there."""
  if final.picture is not None:  # samples.png, or scores.png of an anomaly model
    visualize.save_png(final.picture, run.picture_png(final.picture_name))
  if source.anomaly is not None:
    thresholds = anomaly.fit_thresholds(energy, source.anomaly, step, config.false_alarm_rate,
                                        decision_function)
    run.save_thresholds(thresholds)
    too_few = anomaly.small_split_warning(thresholds)
    if too_few:
      _warn(too_few)
  summary = {"step": step, "final_eval": final.metrics}
  if stopped_by:
    summary["stopped_by"] = stopped_by
  run.write_final_eval(summary)
  return summary


def _fit_support_wall(run, config, source, model, step):
  """`model` with the support wall of its energy (engan_tf.support) for a tabular anomaly
  run with --support_margin >= 0, the wall saved in the model_dir; else `model` (and no
  wall file)."""
  if source.kind != "tabular" or source.anomaly is None or config.support_margin < 0:
    run.remove_support_wall()
    return model
  wall = support.fit(model.energy, source.anomaly.x_train, step, config.support_margin)
  run.save_support_wall(wall)
  return support.Walled(model, wall)


def _with_support_wall(run, model):
  """restore(): `model` with the saved support wall when it belongs to model's step."""
  wall = run.load_support_wall()
  return support.Walled(model, wall) if wall is not None and wall.step == model.step else model


def _train_ensemble(config, run, source):
  """--ensemble_size > 1: member k is an ordinary run in run.member_dir(k) with seed
  config.seed + k, trained (or resumed, or skipped when finished) in turn; then the members
  are standardised on the training rows and combined (engan_tf.ensemble), and the
  ensemble's thresholds and final evaluation are written in run."""
  if source.anomaly is None:
    raise ValueError(f"--ensemble_size={config.ensemble_size} averages anomaly scores, but "
                     f"{config.dataset} is not an anomaly data set: use --ensemble_size=1")
  seeds = [config.seed + k for k in range(config.ensemble_size)]
  for k, seed in enumerate(seeds):
    if config.verbose:
      print(f"ensemble member {k + 1} of {len(seeds)} (seed {seed}) in {run.member_dir(k)}")
    # The member's config is the ensemble's after the recipe was applied ("paper": apply no
    # recipe again, so its ensemble_size stays 1).
    # (The wall is the ensemble's, fit on its energy below: members have none.)
    _train(dataclasses.replace(config, model_dir=run.member_dir(k), seed=seed,
                               ensemble_size=1, recipe="paper", support_margin=-1.0), source)
  members = [restore(run.member_dir(k), source=source).model for k in range(len(seeds))]
  scales = [ensemble_lib.standardisation(m.energy, source.anomaly.x_train) for m in members]
  run.save_ensemble(seeds, scales)
  model = ensemble_lib.Ensemble(members, scales)
  step = model.step
  model = _fit_support_wall(run, config, source, model, step)
  final = evaluation_lib.evaluate(model, source, final=True, step=step,
                                  false_alarm_rate=config.false_alarm_rate,
                                  decision_function=ensemble_lib.DECISION_FUNCTION)
  run.append_eval({"step": step, "final": True, **final.metrics})
  if config.verbose and final.metrics:
    print(f"eval @ step {step} (ensemble of {len(seeds)}): " + ", ".join(
        f"{k}={v:.4g}" for k, v in final.metrics.items()))
  summary = _save_final(run, config, source, model.energy, step, final,
                        ensemble_lib.DECISION_FUNCTION)
  return {**summary, "model": model}


def resolve_verbose(verbose, stream=None):
  """Keras verbosity: `verbose` as given, or (None, "auto") 1 if stdout is a terminal, else 2."""
  if verbose is not None:
    return int(verbose)
  stream = sys.stdout if stream is None else stream
  return 1 if getattr(stream, "isatty", lambda: False)() else 2


def _fit(prepared):
  """model.fit from the restored step up to config.train_steps, in whole epochs."""
  model, config, chief, deadline = (prepared.model, prepared.config, prepared.chief,
                                    prepared.deadline)
  fit_callbacks = prepared.callbacks
  start = model.step
  if start >= config.train_steps:
    if config.verbose and chief:
      print(f"{config.model_dir} already at step {start} >= --train_steps={config.train_steps}")
    return
  if config.verbose and chief:
    print(f"{'resuming at' if start else 'starting'} generator step {start} of "
          f"{config.train_steps} in {config.model_dir}")
  dataset = prepared.dataset()
  spe = config.steps_per_epoch
  verbose = config.verbose if chief else 0
  if start % spe:  # only when --steps_per_epoch changed between runs: realign
    model.fit(dataset, steps_per_epoch=min(spe - start % spe, config.train_steps - start),
              epochs=1, callbacks=fit_callbacks, verbose=verbose, shuffle=False)
    start = model.step
  if start < config.train_steps and not (deadline and deadline.reached):
    model.fit(dataset, steps_per_epoch=spe, epochs=math.ceil(config.train_steps / spe),
              initial_epoch=start // spe, callbacks=fit_callbacks, verbose=verbose,
              shuffle=False)  # the infinite dataset is shuffled; fit's shuffle would be ignored


class Restored(NamedTuple):
  """A trained model_dir read back: its config, data, model and anomaly thresholds."""
  config: TrainConfig
  source: data_lib.DataSource
  model: object  # an AdversarialEnergyModel holding the weights to use for inference
  thresholds: Optional[rundir_lib.AnomalyThresholds]  # None: not an anomaly model


def restore(model_dir, source=None, data_dir=None, checkpoint="latest",
            with_data=True, mixed_precision=None) -> Restored:
  """The model of a trained model_dir, with the averaged energy (if any) in `model.energy`.

  checkpoint="latest": the weights of its last checkpoint; "selected": the model kept by
  --select_metric (model_dir/selected/). with_data=False reads the model_dir alone (export,
  sampling): no data file is needed, and the source has no training or test data. With
  data, a tabular source uses the model_dir's saved preprocessing, never a refit one.
  mixed_precision (None: as trained) builds the networks in bfloat16 compute (True) or
  float32 (False) around the same float32 weights: sampling in bfloat16 (sample.py
  --mixed_precision); the returned config says which. The saved thresholds belong to the
  energy as trained.

  The anomaly thresholds are those saved for that checkpoint; when they belong to another
  step (a run resumed and stopped before its end, or the selected model) they are refitted
  on the training rows, which needs the data.
  """
  run = rundir_lib.RunDir(model_dir)
  config = run.read_config()
  if mixed_precision is not None:  # the networks' compute, not the training's record
    config = dataclasses.replace(config, mixed_precision=bool(mixed_precision))
  if (config.ensemble_size or 1) > 1:  # (None in the config.json of older runs)
    return _restore_ensemble(run, config, _source_of(run, config, source, data_dir, with_data),
                             checkpoint, mixed_precision)
  path = run.checkpoint_path(checkpoint)
  source = _source_of(run, config, source, data_dir, with_data)
  model = build.build_model(config, source)
  build.restore_weights(model, path, checkpoint)
  if checkpoint == "latest":  # the wall is fit at the end of the run, on its last energy
    model = _with_support_wall(run, model)
  return Restored(config, source, model, _thresholds_of(run, config, source, model, checkpoint))


def _thresholds_of(run, config, source, model, checkpoint, decision_function=None):
  """The thresholds saved for `checkpoint` if they belong to model's step, else refitted
  on the data (an error without it)."""
  thresholds = run.load_thresholds(checkpoint)
  if thresholds is not None and thresholds.step != model.step:
    if source.anomaly is None:
      raise ValueError(
          f"{run.file(run.THRESHOLD_FILE)} belongs to step {thresholds.step}, but the "
          f"{checkpoint} checkpoint is step {model.step}: refit it with `python evaluate.py "
          f"--model_dir={run.path} --checkpoint={checkpoint}` (which reads the data)")
    thresholds = None
  if thresholds is None and source.anomaly is not None:
    thresholds = anomaly.fit_thresholds(model.energy, source.anomaly, model.step,
                                        config.false_alarm_rate, decision_function)
  return thresholds


def _source_of(run, config, source, data_dir, with_data):
  """restore's DataSource: `source` if given; else the model_dir's description alone
  (with_data=False) or the data with the saved preprocessing."""
  if source is not None:
    return source
  description, preprocessing = run.load_data_description()
  if not with_data and description is not None:
    return data_lib.from_description(description, preprocessing)
  try:
    source = load_source(config, data_dir, preprocessing=preprocessing)
  except FileNotFoundError as e:
    raise FileNotFoundError(f"{run.path} needs its data here: {e}. Pass --data_dir with the "
                            "data set's files (export and sampling do not need them)") from e
  _warn_if_data_changed(run, source)
  return build.cap_training_rows(source, config)  # the rows it was fit on, as in training


def _restore_ensemble(run, config, source, checkpoint, mixed_precision=None):
  """restore() of an --ensemble_size > 1 model_dir: its members' latest checkpoints combined
  with the saved standardisation (engan_tf.ensemble)."""
  if checkpoint != "latest":
    raise ValueError(f"{run.path} is an ensemble of {config.ensemble_size} runs: only its "
                     f"latest checkpoints are combined (--checkpoint=latest)")
  saved = run.load_ensemble()
  if saved is None:
    raise FileNotFoundError(
        f"{run.file(run.ENSEMBLE_FILE)} not found: the ensemble's members have not all "
        f"finished. Run the same train.py command again to finish them")
  members = [restore(path, source=source, mixed_precision=mixed_precision).model
             for path, _ in saved]
  model = _with_support_wall(run, ensemble_lib.Ensemble(
      members, [ensemble_lib.Standardisation(*scale) for _, scale in saved]))
  return Restored(config, source, model, _thresholds_of(run, config, source, model, checkpoint,
                                                       ensemble_lib.DECISION_FUNCTION))
