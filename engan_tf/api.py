"""The package's top-level functions: train, load and export in three lines.

  >>> import engan_tf
  >>> result = engan_tf.train(dataset="8gaussians", model_dir="/tmp/8g",  # doctest: +SKIP
  ...                         train_steps=500)
  >>> model = engan_tf.load("/tmp/8g")  # doctest: +SKIP
  >>> model.score(np.zeros([3, 2]))["energy"].shape, model.sample(16).shape  # doctest: +SKIP
  ((3,), (16, 2))
  >>> paths = engan_tf.export("/tmp/8g", "/tmp/exported")  # doctest: +SKIP

(The example trains a model and writes /tmp: the doctests skip it.) `train` takes
TrainConfig fields as keyword arguments (data-set options such as data_path or
label_column may be given directly too); `load` reads a model_dir alone (no data files)
into a `TrainedModel`.
"""

import dataclasses
from typing import Any, Optional

import numpy as np

from engan_tf import config as config_lib


def train(**options):
  """Trains (or resumes) a run; returns {"step", "final_eval", "model"}.

  Keyword arguments are TrainConfig fields, or DatasetOptions fields (data_path,
  label_column, categorical_columns, ...), which go to dataset_options.
  """
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  fields = {f.name for f in dataclasses.fields(config_lib.TrainConfig)}
  dataset_fields = {f.name for f in dataclasses.fields(config_lib.DatasetOptions)}
  unknown = set(options) - fields - dataset_fields
  if unknown:
    raise TypeError(f"train() got unknown options {sorted(unknown)}; see "
                    "engan_tf.TrainConfig and engan_tf.config.DatasetOptions")
  values = {k: v for k, v in options.items() if k in fields}
  dataset_options = dict(values.pop("dataset_options", {}))
  dataset_options.update({k: v for k, v in options.items() if k in dataset_fields})
  values.setdefault("model_dir", f"runs/{values.get('dataset', 'run')}")
  return training.train(config_lib.TrainConfig(dataset_options=dataset_options, **values))


@dataclasses.dataclass
class TrainedModel:
  """A trained model_dir: its networks, config and thresholds, with score and sample."""
  config: config_lib.TrainConfig
  energy: Any  # keras.Model: x -> E(x) [batch] (the averaged energy with --ema_decay)
  generator: Any  # keras.Model: z -> G(z)
  latent_dim: int
  thresholds: Optional[Any]  # engan_tf.rundir.AnomalyThresholds of an anomaly model
  source: Any  # the data-free DataSource (data shape, scale, preprocessing)

  def score(self, x):
    """{"energy": E(x), "score_norm": ||grad_x E(x)||^2} (float64 numpy [n]), x in the
    model's feature space (for tables: after the preprocessing, see `score_records`)."""
    from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
    return anomaly.score(self.energy, np.asarray(x, np.float32))

  def score_records(self, records):
    """Scores raw table records ({column: array}) through the saved preprocessing."""
    if self.source.tabular is None:
      raise ValueError("score_records is for tabular models; use score(x)")
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    feed = {c: tf.constant(np.asarray(records[c]).astype(str if d == tf.string else np.float32))
            for c, d in self.source.tabular.raw_feature_spec.items()}
    return self.score(np.asarray(self.source.tabular.model(feed)))

  def sample(self, n, mcmc_steps=0, step_size=0.01, seed=0, prior="gaussian"):
    """n samples G(z) in the model's space; with mcmc_steps, latent MALA first on
    U(z) = E(G(z)) + |z|^2 / 2 (prior="none": the paper's U = E(G(z)))."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    z = tf.random.stateless_normal([int(n), self.latent_dim], [seed, 0])
    if mcmc_steps:
      from engan_tf import mcmc  # pylint: disable=g-import-not-at-top
      z = mcmc.latent_mala(self.energy, self.generator, z, mcmc_steps, step_size, prior=prior,
                           seed=seed).z
    return self.generator(z, training=False).numpy()


def load(model_dir, checkpoint="latest"):
  """The TrainedModel of a model_dir (its last checkpoint, or "selected")."""
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  restored = training.restore(model_dir, checkpoint=checkpoint, with_data=False)
  model = restored.model
  return TrainedModel(restored.config, model.energy, model.generator, model.latent_dim,
                      restored.thresholds, restored.source)


def export(model_dir, export_dir, **options):
  """TF Serving SavedModels of a model_dir: {"sampler": path, "scorer": path}
  (options: version, checkpoint, anomaly_threshold; see engan_tf.serving.export)."""
  from engan_tf import serving  # pylint: disable=g-import-not-at-top
  return serving.export(model_dir, export_dir, **options)
