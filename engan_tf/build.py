"""From a TrainConfig to a compiled model, and what a checkpoint of it holds.

`build_model(config, source)` makes the networks of `config.networks` for the data's shape,
wraps them in EnGAN (or the WGAN-GP baseline), and compiles them with three (two) Adam
optimizers whose slots exist before `fit` (call it inside the strategy's scope).
`training_checkpoint(model)` is everything a resumed run needs; `inference_checkpoint(model)`
the evaluated E and G that --select_metric keeps.

Example:
  >>> import os, tempfile
  >>> from engan_tf.config import TrainConfig
  >>> from engan_tf.data import load_dataset
  >>> source = load_dataset("8gaussians")
  >>> config = resolve(TrainConfig(dataset="8gaussians"), source)
  >>> config.networks, config.latent_dim   # the data set's defaults
  ('mlp512', 2)
  >>> model = build_model(config, source)
  >>> sorted(training_checkpoint(model))
  ['e_optimizer', 'energy', 'g_optimizer', 'generator', 'rng', 'statistics', 't_optimizer']
  >>> with tempfile.TemporaryDirectory() as tmp:
  ...   path = tf.train.Checkpoint(**training_checkpoint(model)).save(os.path.join(tmp, "ckpt"))
  >>> os.path.basename(path)
  'ckpt-1'
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from engan_tf import config as config_lib
from engan_tf import data as data_lib
from engan_tf import networks as networks_lib
from engan_tf import recipes
from engan_tf import schedules


def recipe_choices(config, source):
  """{field: value} of the data set's recipe that --recipe=auto applies to `config`: the
  fields still at their TrainConfig default (engan_tf.recipes)."""
  if config.recipe != "auto" or not source.recipe:
    return {}
  defaults = config_lib.TrainConfig()
  choices = {key: value for key, value in source.recipe.items()
             if getattr(config, key) == getattr(defaults, key) and getattr(config, key) != value}
  if config.select_metric:  # a selected checkpoint is one run's: no ensemble
    choices.pop("ensemble_size", None)
  if config.model == "wgan_gp":  # the baseline keeps its own critic loss
    choices.pop("dsm_weight", None)
  return choices


def resolve(config, source):
  """A copy of config with the data set's recipe and defaults filled in."""
  config = dataclasses.replace(config, **recipe_choices(config, source))
  config.networks = config.networks or source.default_networks
  config.latent_dim = config.latent_dim or source.default_latent_dim
  config.ensemble_size = config.ensemble_size or 1
  if config.jit_compile is None:
    config.jit_compile = default_jit_compile(config.networks)
  return config


def default_jit_compile(networks):
  """XLA for the train step unless the networks are convolutional and no GPU is visible:
  on CPU, XLA's convolutions are slower than oneDNN's (2 AMD cores, generator steps/s with
  and without XLA: sngan32 0.15 / 0.21, dcgan28 0.03 / 0.42; BUILD_NOTES.md)."""
  return (networks not in networks_lib.CONVOLUTIONAL
          or bool(tf.config.list_physical_devices("GPU")))


# A toy density has no finite training set: its neighbour spacing is that of this many draws
# (the most recipes.neighbour_spacing looks at).
DSM_REFERENCE_ROWS = 2_000


def latent_sampler(config):
  """The n_mcmc hook of Algorithm 1 for config, or None (z from the prior)."""
  if not config.mcmc_steps:
    return None
  from engan_tf import mcmc  # the MCMC module pulls in TFP; import it only when used
  return mcmc.LatentMALA(num_steps=config.mcmc_steps, step_size=config.mcmc_step_size)


def latent_jump_sampler(config):
  """Independence MH jumps from the prior before latent MALA (--mcmc_jump_steps), or None."""
  if not config.mcmc_jump_steps:
    return None
  from engan_tf import mcmc
  return mcmc.LatentPriorJumps(num_steps=config.mcmc_jump_steps)


def data_sampler(config):
  """Data-space MALA on E from the negatives (--negative_data_steps), or None."""
  if not config.negative_data_steps:
    return None
  from engan_tf import mcmc
  return mcmc.DataMALA(num_steps=config.negative_data_steps,
                       step_size=config.negative_data_step_size)


def dsm_noise_std(config, source):
  """The denoising score-matching noise's std in the model's feature units: --dsm_sigma
  neighbour spacings (recipes.neighbour_spacing) of the training rows, or for a toy density
  of DSM_REFERENCE_ROWS points drawn from it; 0 without --dsm_weight, or for a table without
  training rows (a restored model that only infers) or fewer than two distinct ones."""
  if not config.dsm_weight:
    return 0.0
  if source.kind == "toy":
    seed = tf.constant([config.seed, 0])
    x_train = source.toy_density.sample(seed, DSM_REFERENCE_ROWS).numpy()
  elif source.kind == "tabular":
    x_train = source.anomaly.x_train if source.anomaly is not None else None
  else:
    raise ValueError(f"--dsm_weight is for tables and toy densities, not "
                     f"--dataset={config.dataset}")
  if x_train is None:
    return 0.0
  return config.dsm_sigma * recipes.neighbour_spacing(x_train)


def cap_training_rows(source, config):
  """`source` fitting on a seeded subsample of at most config.max_train_rows of its normal
  training rows (the tables' recipe caps large tables: engan_tf/recipes.py); unchanged
  without a cap or with fewer rows. Validation and test rows are kept whole.

  >>> x = np.arange(20, dtype=np.float32)[:, None]
  >>> source = data_lib.DataSource("t", "tabular", (1,), None,
  ...     anomaly=data_lib.AnomalyData(x_train=x, x_test=x[:2]))
  >>> capped = cap_training_rows(source, config_lib.TrainConfig(max_train_rows=5, seed=3))
  >>> capped.anomaly.x_train.shape, set(capped.anomaly.x_train[:, 0]) <= set(x[:, 0])
  ((5, 1), True)
  """
  data = source.anomaly
  if not config.max_train_rows or data is None or len(data.x_train) <= config.max_train_rows:
    return source
  if source.kind != "tabular":
    raise ValueError(f"--max_train_rows is for tables, not --dataset={config.dataset}")
  keep = np.random.RandomState(config.seed).permutation(len(data.x_train))
  keep = keep[:config.max_train_rows]  # random order, as the training rows are
  x_train = data.x_train[keep]
  anomaly = dataclasses.replace(
      data, x_train=x_train,
      train_rows=data.train_rows[keep] if data.train_rows is not None else None)
  return dataclasses.replace(
      source, anomaly=anomaly,
      train_dataset=lambda batch_size, n_critic, seed: data_lib.array_train_dataset(
          x_train, batch_size, n_critic, seed))


def build_model(config, source):
  """The compiled EnGAN (or WGAN-GP, by config.model) for `config` (inside the strategy scope).

  With config.mixed_precision the networks compute in bfloat16 with float32 variables and
  outputs (on a CPU, XLA gains nothing from it; TensorFlow's own kernels use AMX where
  the CPU has it); the global Keras policy is restored afterwards.
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
  common = dict(latent_dim=config.latent_dim, n_critic=config.n_critic,
                lambda_penalty=config.lambda_penalty, seed=config.seed,
                ema_decay=config.ema_decay)
  adam = lambda lr: keras.optimizers.Adam(lr, config.beta_1, config.beta_2)
  optimizers = [adam(config.energy_lr), adam(config.learning_rate)]
  if config.model == "wgan_gp":
    from engan_tf import wgan_gp  # the baseline; same networks, no statistics network
    model = wgan_gp.WGANGP(nets.energy, nets.generator, **common)
  else:
    from engan_tf import model as model_lib  # pylint: disable=g-import-not-at-top
    dsm_sigma = dsm_noise_std(config, source)
    model = model_lib.EnGAN(*nets, shuffle=config.shuffle, latent_sampler=latent_sampler(config),
                            latent_jump_sampler=latent_jump_sampler(config),
                            latent_jumps_from_step=round(config.mcmc_jump_start
                                                         * config.train_steps),
                            mi_noise_std=config.mi_noise_std, entropy=config.entropy,
                            entropy_weight=config.entropy_weight,
                            dsm_weight=config.dsm_weight if dsm_sigma else 0.0,
                            dsm_sigma=dsm_sigma, data_sampler=data_sampler(config), **common)
    optimizers.append(adam(config.learning_rate))
  jit_compile = config.jit_compile  # None where config did not pass through resolve
  if jit_compile is None:
    jit_compile = default_jit_compile(config.networks)
  model.compile(*optimizers, steps_per_execution=config.steps_per_execution,
                jit_compile=jit_compile and config.strategy == "default")
  model.build_optimizers()
  set_learning_rates(model, config)
  return model


def set_learning_rates(model, config):
  """The command line's learning rates and their decay, --lr_decay_start (a restored
  checkpoint brings its own rates back: call this after restoring, before fit)."""
  base_rates = [config.energy_lr] + [config.learning_rate] * (
      len(model.optimizers_and_variables()) - 1)
  model.set_learning_rates(base_rates, schedules.LearningRateDecay.from_config(config))


def training_checkpoint(model):
  """{name: trackable} of everything a resumed run needs."""
  parts = dict(model.networks())
  names = {"energy": "e_optimizer", "generator": "g_optimizer", "statistics": "t_optimizer"}
  for (optimizer, _), network in zip(model.optimizers_and_variables(), model.networks()):
    parts[names[network]] = optimizer
  parts["rng"] = model.rng
  if model.weight_average is not None:
    parts["energy_average"] = model.weight_average.energy
  return parts


def inference_checkpoint(model):
  """{name: trackable} of the evaluated E (averaged, if averaging) and G."""
  target = model.for_inference
  return dict(energy=target.energy, generator=target.generator)


def restore_weights(model, path, kind="latest"):
  """Loads checkpoint `path` (a training or an inference checkpoint) into model.

  Inference then uses the averaged energy (if the run averages): it is copied into E.
  """
  if kind == "selected":
    tf.train.Checkpoint(**inference_checkpoint(model)).restore(path).expect_partial()
    # The step counter tells which model this is (export's default version, evaluate.py).
    model.g_optimizer.iterations.assign(int(path.rsplit("-", 1)[1]))
  else:
    tf.train.Checkpoint(**training_checkpoint(model)).restore(path).expect_partial()
  if model.weight_average is not None:
    model.weight_average.copy_to(model)
