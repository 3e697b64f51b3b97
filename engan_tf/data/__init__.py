"""Datasets, by name: the one place new data plugs in.

Every loader returns a `DataSource`. Its `train_dataset(batch_size, n_critic, seed)` is an
infinite `tf.data.Dataset` whose elements are `[batch_size, n_critic, *data_shape]`: one
element feeds one generator update and its `n_critic` energy updates, each on a fresh real
minibatch (Algorithm 1). The batch axis comes first so that `tf.distribute` splits it
across replicas.

Beside the training stream a source carries typed, optional parts that evaluation and
export read: `anomaly` (an `AnomalyData`: normal training rows and a labelled test set),
`tabular` (a `TabularPreprocessing`: the fitted raw-record -> feature model), `images` (an
`ImageData`: the reference images for FID, and the StackedMNIST mode labels), `toy_density`.
They hold data and fitted preprocessing only; what a trained model learned (thresholds,
weights) lives in its model_dir (engan_tf.rundir).

Example:
  >>> source = load_dataset("25gaussians")
  >>> x = next(iter(source.train_dataset(batch_size=256, n_critic=5, seed=0)))
  >>> x.shape
  TensorShape([256, 5, 2])
"""

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from engan_tf import registry
from engan_tf.data import toy


@dataclasses.dataclass
class AnomalyData:
  """An anomaly-detection split, in the model's space (what the energy takes).

  x_train are the normal rows training draws from; x_val a held-out share of them (with
  x_val_shuffled, the same rows with each column permuted independently: label-free
  stand-ins for anomalies); x_test/y_test the test set (y 1 = anomaly, None = unlabelled).
  """
  x_train: np.ndarray
  x_test: np.ndarray
  y_test: Optional[np.ndarray] = None
  x_val: Optional[np.ndarray] = None
  x_val_shuffled: Optional[np.ndarray] = None
  # Which rows of the source table x_train and x_test are (tabular data), and a class per
  # test row (e.g. the digit of each test image), for breakdowns.
  train_rows: Optional[np.ndarray] = None
  test_rows: Optional[np.ndarray] = None
  test_classes: Optional[np.ndarray] = None

  @property
  def test_anomaly_share(self):
    return None if self.y_test is None else float(np.mean(self.y_test))


@dataclasses.dataclass
class TabularPreprocessing:
  """The fitted raw-record -> feature-vector model of a table, and the table's schema.

  `model` maps {column: [batch] tensor} to [batch, num_features] in the model's space
  (StringLookup, Normalization, ...); exported scorers include it (`score_records`).
  """
  model: Any  # keras.Model
  # {column: tf.DType} of the raw columns in order: tf.string (categorical) or a number type.
  raw_feature_spec: Dict[str, tf.DType]


@dataclasses.dataclass
class ModeCounting:
  """StackedMNIST: the digit indices of the training images and their mode numbers."""
  num_stacks: int
  stack_indices: np.ndarray  # [N, num_stacks] indices into the MNIST training digits
  mode_labels: np.ndarray  # [N] the mode number of each training image
  classifier_path: Optional[str] = None  # a saved MNIST classifier: evaluations count modes

  @property
  def num_modes(self):
    return 10 ** self.num_stacks


@dataclasses.dataclass
class ImageData:
  """What image evaluations need beside the training stream."""
  # batch_size -> one pass over real training images in [-1, 1] (FID's reference set).
  reference_images: Callable[[int], tf.data.Dataset]
  train_labels: Optional[np.ndarray] = None
  test_images: Optional[np.ndarray] = None  # uint8
  test_labels: Optional[np.ndarray] = None
  modes: Optional[ModeCounting] = None


@dataclasses.dataclass
class DataSource:
  name: str
  kind: str  # "toy", "image" or "tabular"
  data_shape: Tuple[int, ...]
  # (batch_size, n_critic, seed) -> tf.data.Dataset of [batch_size, n_critic, *data_shape]
  train_dataset: Callable[[int, int, int], tf.data.Dataset]
  # Defaults that fit this data: the network family and latent size of the paper's set-up.
  default_networks: str = "mlp512"
  default_latent_dim: int = 2
  toy_density: Optional[toy.ToyDensity] = None
  anomaly: Optional[AnomalyData] = None
  tabular: Optional[TabularPreprocessing] = None
  images: Optional[ImageData] = None
  # A file-backed source: {"path", "sha256", "rows"} of the file it was read from.
  fingerprint: Optional[Dict[str, Any]] = None
  # TrainConfig values suited to this data (engan_tf.recipes), applied by --recipe=auto.
  recipe: Optional[Dict[str, Any]] = None
  # Model space <-> the data's own scale, as TF functions on a batch (e.g. images trained in
  # [-1, 1] but stored in [0, 1]); the exported SavedModels take and return data in the data's
  # own scale. None is the identity.
  to_data_scale: Optional[Callable[[tf.Tensor], tf.Tensor]] = None
  from_data_scale: Optional[Callable[[tf.Tensor], tf.Tensor]] = None


# Images live in [-1, 1] inside the model; the exported SavedModels (engan_tf/serving.py) speak
# the data's own scale, float pixels in [0, 255]. DataSource(..., **PIXEL_SCALE) says so.
PIXEL_SCALE = dict(to_data_scale=lambda x: (x + 1.0) * 127.5,
                   from_data_scale=lambda x: x / 127.5 - 1.0)

_DATASETS = registry.Registry("dataset")
# Decorator: `@register_dataset("name")` on `loader(data_dir, seed, **options) -> DataSource`.
register_dataset = _DATASETS.register
dataset_names = _DATASETS.names


def load_dataset(name, data_dir=None, seed=0, **options) -> DataSource:
  return _DATASETS.get(name)(data_dir=data_dir, seed=seed, **options)


def describe(source: DataSource) -> Dict[str, Any]:
  """What a trained model needs to know of its data without the data: a JSON-able dict.

  A model_dir keeps it (engan_tf.rundir), so export and sampling need no data files:
  `from_description` rebuilds a data-free DataSource from it. Scale hooks other than the
  identity and PIXEL_SCALE cannot be described ("scale": None): such a source is reloaded.
  """
  if source.to_data_scale is None and source.from_data_scale is None:
    scale = "identity"
  elif (source.to_data_scale is PIXEL_SCALE["to_data_scale"]
        and source.from_data_scale is PIXEL_SCALE["from_data_scale"]):
    scale = "pixel"
  else:
    scale = None
  description = {"name": source.name, "kind": source.kind,
                 "data_shape": [int(d) for d in source.data_shape], "scale": scale,
                 "default_networks": source.default_networks,
                 "default_latent_dim": source.default_latent_dim}
  if source.tabular is not None:
    # A list of [column, dtype] pairs: the column order is the signature's (JSON objects
    # may be written with sorted keys).
    description["raw_feature_spec"] = [[c, tf.as_dtype(d).name]
                                       for c, d in source.tabular.raw_feature_spec.items()]
  return description


def from_description(description, preprocessing=None) -> Optional[DataSource]:
  """A DataSource with no training data, from `describe`'s dict (None if it cannot be built).

  Toy densities are generated, so theirs is complete; others have no train_dataset and no
  held-out data, only what export and sampling read. A tabular source needs its saved
  `preprocessing` model.
  """
  if description.get("scale") is None:
    return None
  if description["kind"] == "toy":
    return load_dataset(description["name"])
  tabular = None
  if "raw_feature_spec" in description:
    if preprocessing is None:
      return None
    tabular = TabularPreprocessing(preprocessing, {
        c: tf.as_dtype(d) for c, d in description["raw_feature_spec"]})
  scale = PIXEL_SCALE if description["scale"] == "pixel" else {}
  return DataSource(description["name"], description["kind"], tuple(description["data_shape"]),
                    train_dataset=None, default_networks=description["default_networks"],
                    default_latent_dim=description["default_latent_dim"], tabular=tabular,
                    **scale)


def array_train_dataset(array, batch_size, n_critic, seed):
  """Infinite shuffled [batch_size, n_critic, ...] batches from an in-memory array."""
  array = np.asarray(array)
  ds = tf.data.Dataset.from_tensor_slices(array)
  ds = ds.shuffle(min(len(array), 100_000), seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.batch(n_critic, drop_remainder=True).batch(batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE)


def _toy_loader(density):

  def load(data_dir=None, seed=0, **unused):
    del data_dir, unused  # toy data is generated, never read

    def train_dataset(batch_size, n_critic, seed=seed):
      # Batch i is a pure function of (seed, i): stateless, so resumes are reproducible.
      def make(i):
        x = density.sample(tf.stack([tf.cast(seed, tf.int64), i]), batch_size * n_critic)
        return tf.reshape(x, [batch_size, n_critic, 2])

      return tf.data.Dataset.counter().map(make).prefetch(tf.data.AUTOTUNE)

    return DataSource(density.name, "toy", (2,), train_dataset, toy_density=density)

  return load


for _name, _density in toy.TOY_DENSITIES.items():
  register_dataset(_name)(_toy_loader(_density))

# Data sets in their own modules register themselves on import (after the registry exists).
from engan_tf.data import kdd  # noqa: E402,F401  pylint: disable=g-import-not-at-top
from engan_tf.data import mnist  # noqa: E402,F401  pylint: disable=g-import-not-at-top
from engan_tf.data import tabular  # noqa: E402,F401  pylint: disable=g-import-not-at-top
from engan_tf.data import images  # noqa: E402,F401  pylint: disable=g-import-not-at-top
