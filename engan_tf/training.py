"""The training driver: strategy, model, checkpoints, TensorBoard and evaluation around `fit`.

`train(TrainConfig(...))` runs Algorithm 1 (`engan_tf.model.EnGAN`) for `train_steps`
generator updates. It is resumable: the three networks, the three optimizers (their
`iterations` are the step counters) and the random generator's state are checkpointed
every `steps_per_epoch` steps and at the end; running the same command again continues
from the last checkpoint. A diverging run stops with `TrainingDiverged` before it can
write a non-finite checkpoint.

Example:
  >>> result = train(TrainConfig(dataset="25gaussians", model_dir="/tmp/run", train_steps=200))
  >>> result["final_eval"]["modes_covered"]
"""

import dataclasses
import json
import math
import os
import time
from typing import Any, Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from engan_tf import anomaly
from engan_tf import averaging
from engan_tf import cli
from engan_tf import data as data_lib
from engan_tf import evaluation
from engan_tf import model as model_lib
from engan_tf import networks as networks_lib
from engan_tf import visualize

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")
MODELS = ("engan", "wgan_gp")
ENTROPY_TERMS = model_lib.ENTROPY_TERMS  # the generator's entropy term (--entropy)
# Changing any of these changes what a checkpoint means: a model_dir keeps them fixed.
_IDENTITY_KEYS = ("dataset", "networks", "dim", "latent_dim", "dataset_options", "model",
                  "mixed_precision")


class TrainingDiverged(RuntimeError):
  """A loss, energy or weight became NaN or infinite."""


@dataclasses.dataclass
class TrainConfig:
  dataset: str = "25gaussians"
  model_dir: str = "runs/25gaussians"
  data_dir: Optional[str] = None
  dataset_options: Dict[str, Any] = dataclasses.field(default_factory=dict)
  model: str = "engan"
  networks: Optional[str] = None  # None: the dataset's default family
  dim: Optional[int] = None  # width of the networks; None: the family's default
  latent_dim: Optional[int] = None  # None: the dataset's default
  train_steps: int = 2000  # generator updates
  # > 0: also stop (checkpoint, final evaluation) once training has run this many minutes of
  # wall time in this process: comparisons "under the same budget" (bench/).
  max_train_minutes: float = 0.0
  batch_size: int = 256
  n_critic: int = 5
  lambda_penalty: float = 0.1
  learning_rate: float = 1e-4
  # The energy's Adam learning rate when it differs from --learning_rate (None: the same).
  energy_learning_rate: Optional[float] = None
  beta_1: float = 0.5
  beta_2: float = 0.9
  shuffle: str = "per_dimension"
  mi_noise_std: float = 0.0  # > 0: T sees G(z) + Gaussian noise (engan_tf.model)
  entropy: str = "jsd_mi"  # the generator's entropy term: "jsd_mi" (paper) or "logdet"
  entropy_weight: float = 1.0  # L_G = mean E(G(z)) + entropy_weight * L_H (1: the paper)
  mcmc_steps: int = 0
  mcmc_step_size: float = 0.01
  strategy: str = "default"
  seed: int = 0
  steps_per_epoch: int = 100  # one "epoch" = one checkpoint + summary interval
  eval_every: int = 5  # epochs between evaluations (0: only at the end)
  steps_per_execution: int = 1
  jit_compile: bool = True  # XLA on one device; never under MirroredStrategy (fails on CPU)
  num_threads: int = 0  # CPU threads for TensorFlow's op pools; 0 = TensorFlow's default
  # > 0: evaluate, checkpoint and export a moving average of the energy's weights.
  ema_decay: float = 0.0
  # An evaluation metric to maximise, e.g. "score_norm/val_auroc_shuffled" (label-free, with
  # --validation_share): the best evaluated model is kept in model_dir/selected/.
  select_metric: str = ""
  mixed_precision: bool = False  # bfloat16 compute (accelerators), float32 variables
  verbose: int = 1

  @property
  def energy_lr(self):
    return self.learning_rate if self.energy_learning_rate is None else self.energy_learning_rate

  def validate(self):
    positive = ("train_steps", "batch_size", "n_critic", "learning_rate", "steps_per_epoch",
                "steps_per_execution", "entropy_weight")
    for key in positive:
      if not getattr(self, key) > 0:
        raise ValueError(f"--{key} must be > 0, got {getattr(self, key)}")
    if self.energy_learning_rate is not None and not self.energy_learning_rate > 0:
      raise ValueError(f"--energy_learning_rate must be > 0, got {self.energy_learning_rate}")
    for key in ("lambda_penalty", "mcmc_steps", "eval_every", "max_train_minutes",
                "mi_noise_std"):
      if getattr(self, key) < 0:
        raise ValueError(f"--{key} must be >= 0, got {getattr(self, key)}")
    if not (0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1):
      raise ValueError(f"--beta_1 and --beta_2 must be in [0, 1), got {self.beta_1}, {self.beta_2}")
    if self.model not in MODELS:
      raise ValueError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
    if self.model == "wgan_gp" and self.mcmc_steps:
      raise ValueError("--mcmc_steps is part of EnGAN; --model=wgan_gp samples z from the prior")
    if self.model == "wgan_gp" and self.mi_noise_std:
      raise ValueError("--mi_noise_std is part of EnGAN's entropy term; --model=wgan_gp has none")
    if self.entropy not in ENTROPY_TERMS:
      raise ValueError(f"--entropy must be one of {', '.join(ENTROPY_TERMS)}, "
                       f"got {self.entropy!r}")
    if self.model == "wgan_gp" and (self.entropy != "jsd_mi" or self.entropy_weight != 1.0):
      raise ValueError("--entropy and --entropy_weight are EnGAN's entropy term; "
                       "--model=wgan_gp has none")
    if self.strategy not in STRATEGIES:
      raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
    if self.steps_per_epoch % self.steps_per_execution:
      raise ValueError(f"--steps_per_epoch ({self.steps_per_epoch}) must be a multiple of "
                       f"--steps_per_execution ({self.steps_per_execution})")
    if not 0 <= self.ema_decay < 1:
      raise ValueError(f"--ema_decay must be in [0, 1), got {self.ema_decay}")
    if self.mcmc_steps and self.mcmc_step_size <= 0:
      raise ValueError(f"--mcmc_step_size must be > 0, got {self.mcmc_step_size}")
    if self.latent_dim is not None and self.latent_dim < 1:
      raise ValueError(f"--latent_dim must be >= 1, got {self.latent_dim}")


def make_strategy(name):
  """The tf.distribute strategy for --strategy.

  multi_worker_mirrored reads the cluster from the TF_CONFIG environment variable, as
  TensorFlow documents (every worker runs the same command with its own TF_CONFIG); tpu
  resolves the TPU from the environment (TPU VMs, Colab).
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if tf.config.list_logical_devices("GPU"):
      return tf.distribute.MirroredStrategy()  # all local GPUs, NCCL all-reduce
    # No GPU: one replica per logical CPU device (tests split the CPU in two), reduced on
    # one device: collective ops would need program-wide unique keys across strategies.
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
  if name == "multi_worker_mirrored":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy=multi_worker_mirrored needs the TF_CONFIG environment "
                       "variable (see README, 'Training on several machines')")
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
      raise ValueError(f"--strategy=tpu found no TPU on this machine ({e})") from e
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def is_chief(strategy):
  """True on the one worker that writes the run's files (always, without a cluster)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def writable_dir(model_dir, strategy):
  """model_dir on the chief; a private temporary directory on the other workers.

  Every worker of a MultiWorkerMirroredStrategy must take part in a save (the variables'
  values are gathered collectively), but only the chief's copy is kept (TensorFlow's
  multi-worker checkpointing recipe).
  """
  if is_chief(strategy):
    return model_dir
  resolver = strategy.cluster_resolver
  return os.path.join(model_dir, "workertemp", f"{resolver.task_type}_{resolver.task_id}")


def distributed_dataset(source, config, strategy, start):
  """The training data for `strategy`; with several input pipelines, one shard each.

  Each pipeline (one per worker) builds the same stream at the per-worker batch size and
  keeps every k-th element, so workers never see the same minibatch.
  """
  seed = config.seed + start  # a resumed run draws a different (reproducible) stream
  if strategy.extended._in_multi_worker_mode():  # pylint: disable=protected-access
    def dataset_fn(ctx):
      per_replica = ctx.get_per_replica_batch_size(config.batch_size)
      ds = source.train_dataset(per_replica, config.n_critic, seed)
      return ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    return strategy.distribute_datasets_from_function(dataset_fn)
  return source.train_dataset(config.batch_size, config.n_critic, seed)


def _latent_sampler(config):
  if not config.mcmc_steps:
    return None
  from engan_tf import mcmc  # the MCMC module pulls in TFP; import it only when used
  return mcmc.LatentMALA(num_steps=config.mcmc_steps, step_size=config.mcmc_step_size)


def build_model(config, source):
  """The compiled EnGAN (or WGAN-GP, by config.model) for `config` (inside the strategy scope).

  With config.mixed_precision the networks compute in bfloat16 (accelerators) with float32
  variables and outputs; the global Keras policy is restored afterwards.
  """
  previous_policy = keras.mixed_precision.global_policy()
  if config.mixed_precision:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    return _build_model(config, source)
  finally:
    keras.mixed_precision.set_global_policy(previous_policy)


def _build_model(config, source):
  nets = networks_lib.build_networks(config.networks, source.data_shape, config.latent_dim,
                                     config.dim)
  if config.model == "wgan_gp":
    from engan_tf import wgan_gp  # the baseline; same networks, no statistics network
    model = wgan_gp.WGANGP(nets.energy, nets.generator, latent_dim=config.latent_dim,
                           n_critic=config.n_critic, lambda_penalty=config.lambda_penalty,
                           seed=config.seed)
  else:
    model = model_lib.EnGAN(*nets, latent_dim=config.latent_dim, n_critic=config.n_critic,
                            lambda_penalty=config.lambda_penalty, shuffle=config.shuffle,
                            latent_sampler=_latent_sampler(config), seed=config.seed,
                            mi_noise_std=config.mi_noise_std, entropy=config.entropy,
                            entropy_weight=config.entropy_weight)
  adam = lambda lr: keras.optimizers.Adam(lr, config.beta_1, config.beta_2)
  model.compile(adam(config.energy_lr), adam(config.learning_rate), adam(config.learning_rate),
                steps_per_execution=config.steps_per_execution,
                jit_compile=config.jit_compile and config.strategy == "default")
  model.build_optimizers()
  model.weight_average = (averaging.WeightAverage(model, config.ema_decay)
                          if config.ema_decay else None)
  return model


def make_checkpoint(model):
  parts = dict(energy=model.energy, generator=model.generator, statistics=model.statistics,
               e_optimizer=model.e_optimizer, g_optimizer=model.g_optimizer,
               t_optimizer=model.t_optimizer, rng=model.rng)
  if getattr(model, "weight_average", None) is not None:
    parts.update(energy_average=model.weight_average.energy)
  # WGAN-GP has no statistics network (None): it has nothing of it to save.
  return tf.train.Checkpoint(**{name: part for name, part in parts.items() if part is not None})


def resolve(config, source):
  """Fills the dataset-dependent defaults (networks, latent_dim) in a copy of config."""
  config = dataclasses.replace(config)
  config.networks = config.networks or source.default_networks
  config.latent_dim = config.latent_dim or source.default_latent_dim
  return config


def load_config(model_dir):
  path = os.path.join(model_dir, "config.json")
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(
        f"{path} not found: {model_dir!r} is not a model_dir written by train.py")
  with tf.io.gfile.GFile(path) as f:
    saved = json.load(f)
  known = {f.name for f in dataclasses.fields(TrainConfig)}
  return TrainConfig(**{k: v for k, v in saved.items() if k in known})


def _write_json(path, obj):
  tmp = f"{path}.tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    json.dump(obj, f, indent=2, sort_keys=True)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def _check_same_run(config, model_dir):
  """A model_dir holds one run: refuse to resume it with another data set or architecture."""
  if not tf.io.gfile.exists(os.path.join(model_dir, "config.json")):
    return
  saved = dataclasses.asdict(load_config(model_dir))
  new = dataclasses.asdict(config)
  for key in _IDENTITY_KEYS:
    if saved.get(key) != new.get(key):
      raise ValueError(
          f"{model_dir!r} holds a run with {key}={saved.get(key)!r}, but this run asks for "
          f"{key}={new.get(key)!r}. Use a new --model_dir (runs are never overwritten).")


SELECTED_DIR = "selected"  # model_dir/selected/: the checkpoint chosen by --select_metric
SELECTED_FILE = "selected.json"


def load_selected(model_dir):
  """model_dir/selected.json ({"step", "metric", "value", "metrics"}) or None."""
  path = os.path.join(model_dir, SELECTED_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _selected_checkpoint(model):
  """What --select_metric keeps: the evaluated E (averaged, if averaging) and G."""
  target = getattr(model, "weight_average", None) or model
  return tf.train.Checkpoint(energy=target.energy, generator=target.generator)


CHECKPOINTS = cli.CHECKPOINTS  # "latest" or "selected" (the tools' --checkpoint)


def restore(model_dir, source=None, data_dir=None, checkpoint="latest"):
  """(config, source, model) of a trained model_dir.

  checkpoint="latest": the weights of its last checkpoint; "selected": the model kept by
  --select_metric (model_dir/selected/).
  """
  if checkpoint not in CHECKPOINTS:
    raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
  config = load_config(model_dir)
  if source is None:
    source = data_lib.load_dataset(config.dataset, data_dir=data_dir or config.data_dir,
                                   seed=config.seed, **config.dataset_options)
  model = build_model(config, source)
  if checkpoint == "selected":
    path = tf.train.latest_checkpoint(os.path.join(model_dir, SELECTED_DIR))
    if path is None:
      raise FileNotFoundError(f"no selected checkpoint in {model_dir}/{SELECTED_DIR}: train "
                              f"with --select_metric (or use the latest checkpoint)")
    _selected_checkpoint(model).restore(path).expect_partial()
    # The step counter tells which model this is (export's default version, evaluate.py);
    # the checkpoint's own name ("ckpt-<step>") holds it.
    model.g_optimizer.iterations.assign(int(path.rsplit("-", 1)[1]))
  else:
    path = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if path is None:
      raise FileNotFoundError(f"no checkpoint in {model_dir}/checkpoints: train it first")
    make_checkpoint(model).restore(path).expect_partial()
  if model.weight_average is not None:  # inference uses the averaged weights
    model.weight_average.copy_to(model)
  if checkpoint == "latest":
    anomaly.load_threshold(model_dir, source)  # the fitted anomaly threshold, if any
  elif source.kind in anomaly.SOURCE_KINDS:
    # anomaly_threshold.json belongs to the last checkpoint: refit for the selected energy.
    anomaly.refit_thresholds(model.energy, source)
  return config, source, model


def _all_finite(model):
  nets = [net for net in (model.energy, model.generator, model.statistics) if net is not None]
  return all(bool(np.all(np.isfinite(v.numpy()))) for net in nets for v in net.weights)


class _Training(keras.callbacks.Callback):
  """Checkpoints, divergence guard, TensorBoard summaries and evaluations of one run."""

  def __init__(self, config, source, manager, writer, chief=True):
    super().__init__()
    self.config, self.source, self.manager, self.writer = config, source, manager, writer
    self.chief = chief  # only the chief evaluates and writes the run's files
    # One callback call per `steps_per_execution` generator steps.
    self._ema_decay_per_call = config.ema_decay ** config.steps_per_execution
    self.eval_log = os.path.join(config.model_dir, "eval.jsonl")
    self._t0 = None
    self._step0 = None
    # time.monotonic() at which --max_train_minutes runs out (the run starts with `fit`).
    self.deadline = (time.monotonic() + 60 * config.max_train_minutes
                     if config.max_train_minutes else None)
    self.out_of_time = False
    # --select_metric: the best evaluation so far (survives a resume through selected.json).
    self.selected = load_selected(config.model_dir) if config.select_metric else None

  def step(self):
    return int(self.model.g_optimizer.iterations.numpy())

  def on_epoch_begin(self, epoch, logs=None):
    self._t0, self._step0 = time.perf_counter(), self.step()

  def on_train_batch_end(self, batch, logs=None):
    for name, value in (logs or {}).items():
      if not np.isfinite(float(value)):
        raise TrainingDiverged(
            f"training diverged at generator step {self.step()}: {name} = {float(value)}. "
            f"The last good checkpoint in {self.manager.directory} is kept; try a smaller "
            f"--learning_rate or a larger --lambda_penalty.")
    if self.model.weight_average is not None:
      self.model.weight_average.update(self._ema_decay_per_call)
    if self.step() >= self.config.train_steps:
      self.model.stop_training = True
    if self.deadline is not None and time.monotonic() >= self.deadline:
      self.out_of_time = self.model.stop_training = True

  def on_epoch_end(self, epoch, logs=None):
    step = self.step()
    steps_per_s = (step - self._step0) / (time.perf_counter() - self._t0)
    if not _all_finite(self.model):
      raise TrainingDiverged(f"a weight became non-finite by generator step {step}; "
                             f"the last good checkpoint in {self.manager.directory} is kept.")
    self.manager.save(checkpoint_number=step)
    with self.writer.as_default(step=step):
      for name, value in (logs or {}).items():
        tf.summary.scalar(f"train/{name}", float(value))
      tf.summary.scalar("train/steps_per_second", steps_per_s)
    n_epoch = step // self.config.steps_per_epoch
    if self.chief and self.config.eval_every and n_epoch % self.config.eval_every == 0 \
        and step < self.config.train_steps and not self.out_of_time:
      self.run_eval(step, final=False)

  def run_eval(self, step, final):
    # With --ema_decay, the averaged E and G are the model that is evaluated.
    target = self.model.weight_average or self.model
    result = evaluation.evaluate(target, self.source, final=final)
    metrics = dict(result.metrics)
    if self.config.select_metric:
      metrics.update(self.select(step, result.metrics))
    with self.writer.as_default(step=step):
      for name, value in metrics.items():
        tf.summary.scalar(f"eval/{name}", value)
      if result.picture is not None:
        tf.summary.image("samples", result.picture[None])
    with tf.io.gfile.GFile(self.eval_log, "a") as f:
      f.write(json.dumps({"step": step, "final": final, **metrics}) + "\n")
    if self.config.verbose and result.metrics:
      print(f"eval @ step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items()))
    return evaluation.Evaluation(metrics, result.picture)

  def select(self, step, metrics):
    """Keeps the evaluated model if it is the best by --select_metric so far.

    Returns "selected/<name>" for every metric of the selected model's evaluation (what a
    user who deploys the selected model would get) and "selected/step".
    """
    name = self.config.select_metric
    if name not in metrics:
      raise ValueError(f"--select_metric={name!r} is not a metric of this evaluation; "
                       f"choose one of: {', '.join(sorted(metrics))}")
    value = metrics[name]
    if self.selected is not None and self.selected["metric"] != name:
      self.selected = None  # resumed with another --select_metric: values do not compare
    if np.isfinite(value) and (self.selected is None or value > self.selected["value"]):
      directory = os.path.join(self.config.model_dir, SELECTED_DIR)
      manager = tf.train.CheckpointManager(_selected_checkpoint(self.model), directory,
                                           max_to_keep=1)
      manager.save(checkpoint_number=step)
      self.selected = {"step": step, "metric": name, "value": value, "metrics": metrics}
      _write_json(os.path.join(self.config.model_dir, SELECTED_FILE), self.selected)
    if self.selected is None:  # nothing finite to select yet
      return {}
    return {"selected/step": self.selected["step"],
            **{f"selected/{k}": v for k, v in self.selected["metrics"].items()}}


def train(config: TrainConfig):
  """Trains (or resumes) the run in config.model_dir.

  Returns {"step": final step, "final_eval": metrics (empty on non-chief workers),
  "model": the trained EnGAN}.
  """
  config.validate()
  if config.num_threads:
    tf.config.threading.set_intra_op_parallelism_threads(config.num_threads)
    tf.config.threading.set_inter_op_parallelism_threads(config.num_threads)
  strategy = make_strategy(config.strategy)
  chief = is_chief(strategy)
  source = data_lib.load_dataset(config.dataset, data_dir=config.data_dir, seed=config.seed,
                                 **config.dataset_options)
  if (config.select_metric.endswith("val_auroc_shuffled")
      and source.extras.get("x_val") is None):
    raise ValueError(f"--select_metric={config.select_metric} scores a validation split: "
                     f"add --validation_share (e.g. 0.1); {config.dataset} has none without it")
  config = resolve(config, source)
  _check_same_run(config, config.model_dir)
  out_dir = writable_dir(config.model_dir, strategy)
  tf.io.gfile.makedirs(out_dir)
  if chief:
    _write_json(os.path.join(config.model_dir, "config.json"), dataclasses.asdict(config))

  with strategy.scope():
    model = build_model(config, source)
  checkpoint = make_checkpoint(model)
  manager = tf.train.CheckpointManager(checkpoint, os.path.join(out_dir, "checkpoints"),
                                       max_to_keep=3)
  # Every worker resumes from the chief's last checkpoint.
  latest = tf.train.latest_checkpoint(os.path.join(config.model_dir, "checkpoints"))
  if latest:
    checkpoint.restore(latest).assert_existing_objects_matched()
    # The checkpoint restores the optimizers' learning rates too; the command line wins,
    # so a run can be resumed with another --learning_rate.
    model.e_optimizer.learning_rate.assign(config.energy_lr)
    for optimizer in (model.g_optimizer, getattr(model, "t_optimizer", None)):
      if optimizer is not None:
        optimizer.learning_rate.assign(config.learning_rate)
  start = int(model.g_optimizer.iterations.numpy())
  writer = tf.summary.create_file_writer(os.path.join(out_dir, "tensorboard"))
  callback = _Training(config, source, manager, writer, chief)

  if start < config.train_steps:
    if config.verbose and chief:
      print(f"{'resuming at' if start else 'starting'} generator step {start} of "
            f"{config.train_steps} in {config.model_dir}")
    dataset = distributed_dataset(source, config, strategy, start)
    spe = config.steps_per_epoch
    verbose = config.verbose if chief else 0
    if start % spe:  # only when --steps_per_epoch changed between runs: realign
      model.fit(dataset, steps_per_epoch=min(spe - start % spe, config.train_steps - start),
                epochs=1, callbacks=[callback], verbose=verbose)
      start = callback.step()
    if start < config.train_steps and not callback.out_of_time:
      model.fit(dataset, steps_per_epoch=spe, epochs=math.ceil(config.train_steps / spe),
                initial_epoch=start // spe, callbacks=[callback], verbose=verbose)
  elif config.verbose and chief:
    print(f"{config.model_dir} already at step {start} >= --train_steps={config.train_steps}")

  callback.set_model(model)
  step = callback.step()
  if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{step}"):
    if not _all_finite(model):
      raise TrainingDiverged(f"a weight is non-finite at step {step}; nothing was saved")
    manager.save(checkpoint_number=step)
  writer.flush()
  if not chief:
    tf.io.gfile.rmtree(out_dir)  # the chief's copy is the run's
    return {"step": step, "final_eval": {}, "model": model}
  final = callback.run_eval(step, final=True)
  if final.picture is not None:
    visualize.save_png(final.picture, os.path.join(config.model_dir, "samples.png"))
  anomaly.save_threshold(source, config.model_dir, step)  # no-op unless thresholds were fit
  summary = {"step": step, "final_eval": final.metrics}
  if callback.out_of_time:
    summary["stopped_by"] = f"--max_train_minutes={config.max_train_minutes:g}"
  _write_json(os.path.join(config.model_dir, "final_eval.json"), summary)
  writer.flush()
  return {**summary, "model": model}
