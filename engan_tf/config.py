"""The configuration of a training run: `TrainConfig`, its validation, and the option lists.

Every option is defined once, here: a dataclass field whose metadata holds its help text
(and, for enums, its choices). `engan_tf.cli.define_config_flags` turns the fields into absl
flags, so `train.py --helpfull` and `TrainConfig` can never disagree. Data-set options
(`DatasetOptions`) are flags too and travel in `TrainConfig.dataset_options` (only the ones
given), which the data set's loader receives as keyword arguments.

Imports nothing heavy: the command-line tools define their flags from this module before
TensorFlow loads, so `--help` answers at once. The choices of `--dataset` and `--networks`
are listed here for that reason; tests/test_configs.py checks them against the registries
of `engan_tf.data` and `engan_tf.networks`.

Example:
  >>> config = TrainConfig(dataset="8gaussians", train_steps=500)
  >>> config.validate()
  >>> config.energy_lr
  0.0001
"""

import dataclasses
import json
from typing import Any, Dict, List, Optional

DATASETS = ("25gaussians", "8gaussians", "swissroll", "kddcup99", "csv", "mnist_anomaly",
            "mnist", "stacked_mnist3", "stacked_mnist4", "cifar10", "celeb_a")
NETWORKS = ("mlp512", "mlp512_swish_energy", "mlp512_quadratic_energy", "kdd",
            "kdd_swish_energy", "kdd_quadratic_energy", "dcgan28", "sngan32", "dcgan64")
MODELS = ("engan", "wgan_gp")
STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")
ENTROPY_TERMS = ("jsd_mi", "logdet")  # the generator's entropy term (engan_tf.model)
LR_DECAY_SHAPES = ("linear", "cosine")  # --lr_decay_shape (engan_tf.schedules)
SHUFFLES = ("per_dimension", "rows")  # negatives of the MI estimator (engan_tf.mi)
# The chain length sampling defaults to (sample.py, the export's sample_defaults.json): the
# length --sample_step_size is measured for.
SAMPLE_CHAIN_STEPS = 100
# Changing any of these changes what a checkpoint means: a model_dir keeps them fixed.
IDENTITY_KEYS = ("dataset", "networks", "dim", "latent_dim", "dataset_options", "model",
                 "mixed_precision", "ema_decay_enabled")


def option(default, help, choices=None, flag=True):  # pylint: disable=redefined-builtin
  """A config field with its flag's help text (and enum choices)."""
  metadata = {"help": help, "flag": flag}
  if choices is not None:
    metadata["choices"] = tuple(choices)
  if isinstance(default, (dict, list)):
    return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class TrainConfig:
  """One training run (Algorithm 1); the flags of train.py are its fields."""
  dataset: str = option("25gaussians", "Data set name.", choices=DATASETS)
  model_dir: str = option("runs/25gaussians", "Where checkpoints, TensorBoard logs and results "
                          "go (train.py default: runs/<dataset>). Never deleted; an existing "
                          "run is resumed.")
  data_dir: Optional[str] = option(None, "Directory with local copies of the data set's files.")
  dataset_options: Dict[str, Any] = option({}, "The data-set options given (DatasetOptions).",
                                           flag=False)
  recipe: str = option(
      "auto", "auto: options left at their defaults take the data set's adaptive recipe, if it "
      "has one (tables: engan_tf/recipes.py); paper: the flags' defaults, Algorithm 1's "
      "values.", choices=("auto", "paper"))
  model: str = option("engan", "engan, or the wgan_gp baseline (same data, networks and "
                      "budget).", choices=MODELS)
  networks: Optional[str] = option(None, "Network family (default: the data set's).",
                                   choices=NETWORKS)
  dim: Optional[int] = option(None, "Width of the networks (default: the family's).")
  latent_dim: Optional[int] = option(None, "Latent dimension (default: the data set's).")
  train_steps: int = option(2000, "Generator updates in total.")
  max_train_minutes: float = option(
      0.0, "Also stop after this many minutes of training in this process (0: no limit); the "
      "run is checkpointed and evaluated as at --train_steps (same-budget comparisons).")
  batch_size: int = option(256, "Global minibatch size.")
  n_critic: int = option(5, "Energy updates per generator update (n_phi).")
  lambda_penalty: float = option(0.1, "Score penalty coefficient lambda.")
  learning_rate: float = option(1e-4, "Adam learning rate of the three networks.")
  energy_learning_rate: Optional[float] = option(
      None, "The energy's Adam learning rate, if not --learning_rate.")
  lr_decay_start: float = option(
      1.0, "Decay every optimizer's learning rate (E, G, T) after this fraction of "
      "--train_steps, counted in generator steps, to --lr_decay_final x its base rate at "
      "--train_steps (engan_tf/schedules.py; e.g. 0.6; 1, the default: constant rates).")
  lr_decay_final: float = option(
      0.0, "With --lr_decay_start: the rates at --train_steps, as a fraction of the base rates.")
  lr_decay_shape: str = option("linear", "With --lr_decay_start: the decay's shape.",
                               choices=LR_DECAY_SHAPES)
  beta_1: float = option(0.5, "Adam beta_1.")
  beta_2: float = option(0.9, "Adam beta_2.")
  shuffle: str = option("per_dimension", "How the MI estimator's negatives are drawn from the "
                        "latent batch.", choices=SHUFFLES)
  mi_noise_std: float = option(
      0.0, "Std of Gaussian noise added to G(z) before the statistics network (0: the paper); "
      "keeps the JSD entropy term from saturating.")
  entropy: str = option(
      "jsd_mi", "The generator's entropy term: jsd_mi = -I_JSD(G(z); z) with T (the paper); "
      "logdet = -mean log|det dG/dz| (exact, latent_dim == data dimension only; a "
      "diagnostic).", choices=ENTROPY_TERMS)
  entropy_weight: float = option(
      1.0, "Weight of the entropy term in the generator's loss, L_G = mean E(G(z)) + w * L_H "
      "(1: the paper); with --entropy=logdet, G targets exp(-E / w).")
  dsm_weight: float = option(
      0.0, "> 0 (tables, toy densities): the energy's loss also has this weight times "
      "denoising score matching at noise std --dsm_sigma, so E rises away from the training "
      "rows instead of staying flat there (engan_tf/losses.py; 0: the paper's Algorithm 1).")
  dsm_sigma: float = option(
      2.0, "With --dsm_weight: the noise's std in units of the training rows' neighbour "
      "spacing (median distance to the 5th nearest row / sqrt(features), of 2,000 draws for "
      "a toy density; engan_tf/recipes.py).")
  max_train_rows: int = option(
      0, "Tables: fit on a seeded subsample (--seed) of at most this many normal training "
      "rows; preprocessing and the validation rows keep every row (0: all; the tables' "
      "recipe sets 8,000 above that size, engan_tf/recipes.py).")
  mcmc_steps: int = option(0, "Latent MALA steps before each negative phase (n_mcmc).")
  mcmc_step_size: float = option(0.01, "Latent MALA step size alpha (paper units).")
  mcmc_jump_steps: int = option(
      0, "Independence Metropolis-Hastings steps in latent space before each negative phase "
      "(before any latent MALA): proposals z' ~ N(0, I) accepted with min(1, exp(E(G(z)) - "
      "E(G(z')))), the exact kernel of the paper's latent target with its Gaussian prior, "
      "which moves negatives between E's wells in proportion to exp(-E) (0: none, the "
      "paper).")
  mcmc_jump_start: float = option(
      0.0, "With --mcmc_jump_steps: the fraction of --train_steps (generator steps) before "
      "the jumps begin (0: from the first step).")
  negative_data_steps: int = option(
      0, "Data-space MALA steps on E(x) from each negative G(z) (after any latent MALA), "
      "before the negative phase: the negatives then follow exp(-E) in data space, where "
      "G alone cannot reach, e.g. the flanks of a well wider than G's modes (0: the paper).")
  negative_data_step_size: float = option(
      1e-4, "With --negative_data_steps: their step alpha in data units (the paper's MALA "
      "step; the proposal's noise std is sqrt(2 alpha)).")
  sample_step_size: float = option(
      0.01, "The latent MALA step alpha to sample this model with: sample.py's default and "
      "the exported sampler's recorded one (sampler/<version>/assets.extra/"
      "sample_defaults.json). The paper's 0.01 unless a config measured a better one.")
  strategy: str = option("default", "tf.distribute strategy (multi_worker_mirrored reads "
                         "TF_CONFIG).", choices=STRATEGIES)
  seed: int = option(0, "Random seed.")
  ensemble_size: Optional[int] = option(
      None, "Independent fits (seeds --seed, --seed + 1, ...) on the same rows, their energies "
      "standardised on the training rows and averaged into the energy that scores and is "
      "exported (engan_tf/ensemble.py); > 1 needs an anomaly data set (default: the data set's "
      "recipe, else 1).")
  steps_per_epoch: int = option(100, "Generator steps between checkpoints and summaries.")
  eval_every: int = option(5, "Epochs between evaluations (0: only at the end).")
  steps_per_execution: int = option(1, "Generator steps per tf.function call.")
  jit_compile: Optional[bool] = option(None, "XLA-compile the train step (default: yes, but "
                                       "not for conv networks on a CPU, where XLA is slower; "
                                       "never under MirroredStrategy, where it fails on CPU).")
  num_threads: int = option(0, "CPU threads for TensorFlow (0: TensorFlow's default, all "
                            "cores).")
  ema_decay: float = option(
      0.0, "> 0: evaluate, checkpoint and export a moving average of the energy's weights "
      "with this decay per generator step (e.g. 0.999), bias-corrected: the initial weights "
      "get no share (engan_tf/averaging.py).")
  select_metric: str = option(
      "", "Keep the evaluated model that maximises this evaluation metric in "
      "model_dir/selected/ (e.g. score_norm/val_auroc_shuffled, label-free, with "
      "--validation_share); export.py --checkpoint=selected exports it.")
  false_alarm_rate: float = option(
      0.05, "Anomaly models: the share of normal records the exported is_anomaly flags at "
      "most; the threshold is the split-conformal quantile of the scores on held-out normal "
      "rows (--validation_share; engan_tf/anomaly.py).")
  support_margin: float = option(
      0.1, "Tabular data: the scoring energy rises outside each min-max-scaled feature's "
      "training range widened by this share of the range, so records beyond every training "
      "row score as anomalous in proportion to how far out they lie (engan_tf/support.py); "
      "< 0: no wall.")
  mixed_precision: bool = option(False, "Compute in bfloat16 with float32 variables and "
                                 "outputs (accelerators; on a CPU with AMX faster only with "
                                 "--nojit_compile: BUILD_NOTES.md).")
  verbose: Optional[int] = option(
      None, "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch (default: 1 on "
      "a terminal, 2 when stdout is a file or pipe).")

  @property
  def energy_lr(self):
    return self.learning_rate if self.energy_learning_rate is None else self.energy_learning_rate

  @property
  def ema_decay_enabled(self):
    """Whether the run keeps a weight average (a checkpoint holds it or not)."""
    return self.ema_decay > 0

  def identity(self):
    """What a model_dir keeps fixed across resumes (IDENTITY_KEYS)."""
    return {key: getattr(self, key) for key in IDENTITY_KEYS}

  def to_json(self):
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, saved):
    """A config from config.json's dict (keys of older versions are ignored)."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in saved.items() if k in known})

  def validate(self):
    """Raises ValueError naming the flag of the first bad value."""
    positive = ("train_steps", "batch_size", "n_critic", "learning_rate", "steps_per_epoch",
                "steps_per_execution", "entropy_weight", "sample_step_size")
    for key in positive:
      if not getattr(self, key) > 0:
        raise ValueError(f"--{key} must be > 0, got {getattr(self, key)}")
    if self.energy_learning_rate is not None and not self.energy_learning_rate > 0:
      raise ValueError(f"--energy_learning_rate must be > 0, got {self.energy_learning_rate}")
    for key in ("lambda_penalty", "mcmc_steps", "mcmc_jump_steps", "eval_every",
                "max_train_minutes", "mi_noise_std", "dsm_weight", "max_train_rows",
                "negative_data_steps"):
      if getattr(self, key) < 0:
        raise ValueError(f"--{key} must be >= 0, got {getattr(self, key)}")
    if self.dsm_weight and not self.dsm_sigma > 0:
      raise ValueError(f"--dsm_sigma must be > 0 with --dsm_weight, got {self.dsm_sigma}")
    if not 0 <= self.lr_decay_start <= 1:
      raise ValueError(f"--lr_decay_start must be in [0, 1], got {self.lr_decay_start}")
    if not 0 <= self.mcmc_jump_start < 1:
      raise ValueError(f"--mcmc_jump_start must be in [0, 1), got {self.mcmc_jump_start}")
    if not 0 <= self.lr_decay_final <= 1:
      raise ValueError(f"--lr_decay_final must be in [0, 1], got {self.lr_decay_final}")
    if not (0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1):
      raise ValueError(f"--beta_1 and --beta_2 must be in [0, 1), got {self.beta_1}, {self.beta_2}")
    for field in dataclasses.fields(self):
      choices = field.metadata.get("choices")
      value = getattr(self, field.name)
      if choices and value is not None and value not in choices:
        raise ValueError(f"--{field.name} must be one of {', '.join(choices)}, got {value!r}")
    if self.model == "wgan_gp":
      if self.mcmc_steps or self.mcmc_jump_steps:
        raise ValueError("--mcmc_steps and --mcmc_jump_steps are part of EnGAN; "
                         "--model=wgan_gp samples z from the prior")
      if self.mi_noise_std:
        raise ValueError("--mi_noise_std is part of EnGAN's entropy term; --model=wgan_gp has none")
      if self.dsm_weight:
        raise ValueError("--dsm_weight is part of EnGAN's energy loss here; --model=wgan_gp "
                         "has none")
      if self.negative_data_steps:
        raise ValueError("--negative_data_steps is part of EnGAN's negative phase here; "
                         "--model=wgan_gp has none")
      if self.entropy != "jsd_mi" or self.entropy_weight != 1.0:
        raise ValueError("--entropy and --entropy_weight are EnGAN's entropy term; "
                         "--model=wgan_gp has none")
    if self.steps_per_epoch % self.steps_per_execution:
      raise ValueError(f"--steps_per_epoch ({self.steps_per_epoch}) must be a multiple of "
                       f"--steps_per_execution ({self.steps_per_execution})")
    if not 0 < self.false_alarm_rate < 1:
      raise ValueError(f"--false_alarm_rate must be in (0, 1), got {self.false_alarm_rate}")
    if not 0 <= self.ema_decay < 1:
      raise ValueError(f"--ema_decay must be in [0, 1), got {self.ema_decay}")
    if self.ensemble_size is not None and self.ensemble_size < 1:
      raise ValueError(f"--ensemble_size must be >= 1, got {self.ensemble_size}")
    if (self.ensemble_size or 1) > 1 and self.select_metric:
      raise ValueError("--select_metric keeps one run's best checkpoint; an ensemble "
                       "(--ensemble_size > 1) combines its members' latest: use one of them")
    if (self.ensemble_size or 1) > 1 and self.strategy != "default":
      raise ValueError(f"--ensemble_size > 1 trains its members one after another on one "
                       f"device; --strategy={self.strategy} is not supported with it")
    if self.mcmc_steps and self.mcmc_step_size <= 0:
      raise ValueError(f"--mcmc_step_size must be > 0, got {self.mcmc_step_size}")
    if self.negative_data_steps and self.negative_data_step_size <= 0:
      raise ValueError(f"--negative_data_step_size must be > 0, got "
                       f"{self.negative_data_step_size}")
    if self.latent_dim is not None and self.latent_dim < 1:
      raise ValueError(f"--latent_dim must be >= 1, got {self.latent_dim}")
    if self.dim is not None and self.dim < 1:
      raise ValueError(f"--dim must be >= 1, got {self.dim}")


@dataclasses.dataclass
class DatasetOptions:
  """Options of particular data sets; given ones reach the loader as keyword arguments."""
  anomaly_digit: Optional[int] = option(None, "mnist_anomaly: the held-out (anomalous) digit.")
  data_path: Optional[str] = option(None, "csv: the CSV file to train on.")
  label_column: Optional[str] = option(None, "csv: a label column to drop from the features "
                                       "(0/1 or true/false, 1 = anomaly, or see --anomaly_label).")
  anomaly_label: Optional[str] = option(None, "csv: the value of --label_column that marks an "
                                        "anomaly (e.g. malignant); other values are normal.")
  categorical_columns: Optional[List[str]] = option(None, "csv: columns to one-hot encode.")
  validation_share: Optional[float] = option(
      None, "kddcup99, csv: hold out this share of the normal training rows; the anomaly "
      "threshold is set on them, and label-free model selection scores them (default: csv "
      "0.2, kddcup99 0).")
  development_split: Optional[bool] = option(
      None, "kddcup99, csv: leave the test half out (its rows and labels; the one-hot "
      "vocabularies still list the whole file's values): the training half is split again the "
      "same way (50/50, the same test anomaly share) and evaluation reports its second part. "
      "Choose a configuration on this split, then report the test half once without it.")
  mode_classifier: Optional[str] = option(
      None, "stacked_mnist*: a saved MNIST classifier (python -m "
      "engan_tf.metrics.mnist_classifier); evaluations count modes.")
