"""Tabular data for anomaly detection: CSV parsing, the fitted preprocessing, the split.

(Longer than 300 lines by choice: the reader, the preprocessing and the split of a table
change together; KDD99 and a user's CSV both go through all three.)

A table is read column by column (`read_csv`): numeric columns become float64 arrays,
categorical ones (and the label) string arrays. Every error names the file, line and
column. The feature vector of a record is

  x = minmax( [numeric columns in file order] ++ [one-hot of each categorical column] )

built as Keras preprocessing layers (`build_preprocessing`): a `StringLookup` per
categorical column (vocabulary = the sorted values seen in the file; an unseen value
encodes as all zeros), then a `Normalization` layer holding the min-max scaling
(x - min) / (max - min) fit on the training rows only (a constant column keeps scale 1, as
scikit-learn's MinMaxScaler does). The result is a `keras.Model` from a dict of raw column
tensors (shape [batch]) to [batch, num_features], so an exported scorer can take raw
records.

Split (`anomaly_split`): a 50/50 random split with a fixed seed; training keeps only the
normal records of its half; the test half is kept whole, or its anomalies are subsampled
to a share rho (the KDD99 protocol's rho = 0.2 adaptation).

Both `--dataset=kddcup99` (a CSV with a known schema) and `--dataset=csv` (a user's file)
are built by `tabular_source`.

Example (a three-row file in TensorFlow's in-memory file system; any path works):
  >>> with tf.io.gfile.GFile("ram://flows.csv", "w") as f:
  ...   f.write("bytes,proto,attack\\n10,tcp,no\\n30,udp,no\\n20,tcp,yes\\n")
  >>> schema, columns = read_csv("ram://flows.csv", categorical=["proto"], label_column="attack")
  >>> prep = build_preprocessing(schema, columns, train_rows=np.arange(2))
  >>> x = prep({c: tf.constant(v[:3]) for c, v in columns.items() if c != "attack"})
  >>> x.shape   # [batch, num_features]: bytes, then proto's one-hot (tcp, udp)
  TensorShape([3, 3])
  >>> np.round(x.numpy(), 3).tolist()   # min-max from rows 0-1: bytes (20 - 10) / (30 - 10)
  [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.5, 1.0, 0.0]]
"""

import csv
import dataclasses
import gzip
import hashlib
import io
from typing import Dict, Optional, Sequence, Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from engan_tf import data as data_lib
from engan_tf import recipes

_CHUNK_ROWS = 50_000  # rows parsed at a time: bounds the memory of Python string objects
_TRUE = ("1", "1.0", "true", "yes")
_FALSE = ("0", "0.0", "false", "no")


class TabularDataError(ValueError):
  """A malformed CSV file, an unknown column or a bad value (names line and column)."""


@dataclasses.dataclass(frozen=True)
class TableSchema:
  """The columns of a table in file order, which are categorical, and the label column."""
  columns: Tuple[str, ...]
  categorical: Tuple[str, ...] = ()
  label_column: Optional[str] = None

  @property
  def feature_columns(self):
    return tuple(c for c in self.columns if c != self.label_column)

  @property
  def numeric_columns(self):
    return tuple(c for c in self.feature_columns if c not in self.categorical)

  @property
  def categorical_columns(self):
    return tuple(c for c in self.feature_columns if c in self.categorical)

  def raw_feature_spec(self):
    """{column: tf dtype} of the raw features, in file order (tf.string or tf.float32)."""
    return {c: tf.string if c in self.categorical else tf.float32 for c in self.feature_columns}

  def check(self, where):
    known = set(self.columns)
    for name in tuple(self.categorical) + ((self.label_column,) if self.label_column else ()):
      if name not in known:
        raise TabularDataError(f"{where}: unknown column {name!r}; the columns are: "
                               f"{', '.join(self.columns)}")
    if len(set(self.columns)) != len(self.columns):
      raise TabularDataError(f"{where}: duplicate column names in {list(self.columns)}")
    if not self.feature_columns:
      raise TabularDataError(f"{where}: no feature columns left besides the label")


def _open_text(path):
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"{path} not found")
  raw = tf.io.gfile.GFile(path, "rb")
  # GzipFile and BytesIO give TextIOWrapper the file protocol that GFile lacks.
  raw = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else io.BytesIO(raw.read())
  # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first column's name.
  return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _to_float(values, path, first_line, column):
  """float64 array of a numeric column; empty, non-numeric and non-finite values are errors.

  The rule: a numeric field must hold a finite number. Empty fields, "nan" and "inf" name
  their line and column (impute or drop them first; a text column must be listed as
  categorical).
  """
  try:
    array = np.asarray(values, dtype=np.float64)
  except ValueError:
    array = None
  if array is not None and np.isfinite(array).all():
    return array
  for i, v in enumerate(values):  # slow path only to name the offending row
    where = f"{path}: line {first_line + i}, column {column!r}"
    if not v.strip():
      raise TabularDataError(f"{where}: empty numeric field. Fill or drop missing values "
                             "before training (they are not imputed).") from None
    try:
      number = float(v)
    except ValueError:
      raise TabularDataError(
          f"{where}: {v!r} is not a number. A text column must be listed as categorical "
          f"(--categorical_columns).") from None
    if not np.isfinite(number):
      raise TabularDataError(f"{where}: {v!r} is not a finite number. Impute or drop "
                             "missing and infinite values before training.")
  raise AssertionError("unreachable: some value failed to parse")


def sha256_of(path):
  """The sha256 hex digest of a file (any tf.io.gfile path)."""
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def fingerprint(path, rows):
  """What identifies the file a model was trained on: {"path", "sha256", "rows"}."""
  return {"path": str(path), "sha256": sha256_of(path), "rows": int(rows)}


def read_csv(path, schema: Optional[TableSchema] = None, categorical: Sequence[str] = (),
             label_column: Optional[str] = None):
  """Reads a CSV file (optionally .gz) into (schema, {column: np.ndarray}).

  With `schema` the file has no header and must have exactly those columns; without, the
  first line is the header and `categorical`/`label_column` name columns in it. Numeric
  columns are float64; categorical and label columns are str arrays (surrounding spaces
  stripped).
  """
  with _open_text(path) as f:
    reader = csv.reader(f)
    line = 0
    if schema is None:
      header = next(reader, None)
      line += 1
      if not header or not any(h.strip() for h in header):
        raise TabularDataError(f"{path}: the file is empty (expected a header line)")
      schema = TableSchema(tuple(h.strip() for h in header), tuple(categorical or ()),
                           label_column or None)
    schema.check(str(path))
    width = len(schema.columns)
    text_columns = set(schema.categorical) | {schema.label_column}
    parts = {c: [] for c in schema.columns}
    chunk = []

    def flush(first_line):
      for j, (name, values) in enumerate(zip(schema.columns, zip(*chunk))):
        if name in text_columns:
          parts[name].append(np.asarray([v.strip() for v in values], dtype=str))
        else:
          parts[name].append(_to_float(values, path, first_line, name))
      chunk.clear()

    first = line + 1
    for row in reader:
      line += 1
      if not row:  # blank line: skipped, as most CSV readers do
        continue
      if len(row) != width:
        raise TabularDataError(f"{path}: line {line}: expected {width} fields "
                               f"({', '.join(schema.columns[:4])}, ...), got {len(row)}")
      if not chunk:
        first = line
      chunk.append(row)
      if len(chunk) >= _CHUNK_ROWS:
        flush(first)
    if chunk:
      flush(first)
  if not parts[schema.columns[0]]:
    raise TabularDataError(f"{path}: no data rows")
  return schema, {c: np.concatenate(p) for c, p in parts.items()}


def binary_labels(values, path, column, anomaly_value=None):
  """1 = anomaly. `anomaly_value` given: equality with it; else 0/1/true/false text."""
  values = np.asarray(values)
  if anomaly_value is not None:
    labels = (values == str(anomaly_value)).astype(np.int64)
    if not labels.any():
      raise TabularDataError(
          f"{path}: no row of column {column!r} holds the anomaly label {anomaly_value!r}; "
          f"its values include {', '.join(repr(v) for v in np.unique(values)[:5])}")
    return labels
  lower = np.char.lower(values.astype(str))
  is_true, is_false = np.isin(lower, _TRUE), np.isin(lower, _FALSE)
  bad = np.flatnonzero(~(is_true | is_false))
  if bad.size:
    raise TabularDataError(
        f"{path}: data row {bad[0] + 1}, column {column!r}: label {str(values[bad[0]])!r} is not "
        f"one of 0/1/true/false (1 = anomaly); name the anomaly class with --anomaly_label")
  return is_true.astype(np.int64)


@keras.saving.register_keras_serializable(package="engan_tf")
class OneHot(keras.layers.Layer):
  """One-hot of a string column over a fixed vocabulary; unseen values give all zeros."""

  def __init__(self, vocabulary, **kwargs):
    super().__init__(**kwargs)
    self.vocabulary = [str(v) for v in vocabulary]
    self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, num_oov_indices=1,
                                            output_mode="one_hot")

  def build(self, input_shape):
    del input_shape  # the vocabulary fixes the output; nothing to create
    self.built = True

  def call(self, inputs):
    return self.lookup(inputs)[:, 1:]  # drop the out-of-vocabulary slot

  def compute_output_shape(self, input_shape):
    return (input_shape[0], len(self.vocabulary))

  def get_config(self):
    return {**super().get_config(), "vocabulary": self.vocabulary}


def build_preprocessing(schema: TableSchema, columns: Dict[str, np.ndarray], train_rows,
                        name="preprocessing"):
  """The fitted raw-record -> feature-vector `keras.Model` (see the module docstring).

  Vocabularies come from all rows of `columns` (no labels involved); the min-max scaling
  from `train_rows` only.
  """
  inputs = {c: keras.Input(shape=(), dtype=dtype.name, name=c)
            for c, dtype in schema.raw_feature_spec().items()}
  parts = [keras.layers.Reshape((1,), name=f"{c}_column")(inputs[c])
           for c in schema.numeric_columns]
  parts += [OneHot(np.unique(columns[c]), name=f"{c}_onehot")(inputs[c])
            for c in schema.categorical_columns]
  concat = (keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0])
  unscaled = keras.Model(inputs, concat)
  train_x = apply_preprocessing(unscaled, schema, columns, train_rows)
  low, high = train_x.min(axis=0), train_x.max(axis=0)
  span = np.where(high > low, high - low, 1.0)  # constant column: (x - min), like sklearn
  scaled = keras.layers.Normalization(mean=low, variance=span**2, name="minmax")(concat)
  return keras.Model(inputs, scaled, name=name)


def apply_preprocessing(preprocessing, schema, columns, rows=None, batch=100_000):
  """preprocessing(raw records) as float32 numpy for the given rows (all by default)."""
  spec = schema.raw_feature_spec()
  n = len(columns[schema.columns[0]])
  rows = np.arange(n) if rows is None else np.asarray(rows)
  out = []
  for i in range(0, len(rows), batch):
    idx = rows[i:i + batch]
    feed = {c: tf.constant(columns[c][idx].astype(np.float32 if d == tf.float32 else str))
            for c, d in spec.items()}
    out.append(np.asarray(preprocessing(feed)))
  return np.concatenate(out).astype(np.float32)


def split_halves(n, split_seed=42, development=False, rng=None):
  """(train_half, test_half): row indices of the seeded 50/50 split of n rows (the first
  floor(n/2) of a permutation train); `development`: the training half split again the same
  way (its two halves; no row of the test half). rng: the RandomState(split_seed) to draw the
  permutation from (anomaly_split goes on drawing from it).

  >>> train, test = split_halves(10)
  >>> sorted(np.concatenate([train, test])) == list(range(10)), len(train)
  (True, 5)
  >>> dev_train, dev_test = split_halves(10, development=True)
  >>> sorted(np.concatenate([dev_train, dev_test])) == sorted(train)
  True
  """
  perm = (rng or np.random.RandomState(split_seed)).permutation(n)
  train_half, test_half = perm[:n // 2], perm[n // 2:]
  if development:
    inner = np.random.RandomState(split_seed + 2).permutation(train_half)
    train_half, test_half = inner[:len(inner) // 2], inner[len(inner) // 2:]
  return train_half, test_half


def anomaly_split(is_anomaly, split_seed=42, test_anomaly_share=None, development=False):
  """(train_rows, test_rows): 50/50 split; train keeps normal rows; test optionally at rho.

  The first half of a seeded permutation (floor(n/2) rows) trains; with
  `test_anomaly_share` = rho the test half keeps all its normal rows and at most
  int(n_normal * rho / (1 - rho)) of its anomalies (all of them when fewer exist).
  `development`: the test half is dropped and the training half (all its rows, both
  classes) is split again the same way, so that configurations can be compared on data
  carved from the training half alone.

  >>> y = np.arange(100) % 5 == 0
  >>> train, test = anomaly_split(y, test_anomaly_share=0.2)
  >>> dev_train, dev_test = anomaly_split(y, test_anomaly_share=0.2, development=True)
  >>> set(dev_train) | set(dev_test) <= set(np.random.RandomState(42).permutation(100)[:50])
  True
  """
  is_anomaly = np.asarray(is_anomaly).astype(bool)
  rng = np.random.RandomState(split_seed)
  train_half, test_half = split_halves(len(is_anomaly), split_seed, development, rng)
  train_rows = train_half[~is_anomaly[train_half]]
  if test_anomaly_share is not None:
    normal, anomalous = test_half[~is_anomaly[test_half]], test_half[is_anomaly[test_half]]
    keep = int(len(normal) * test_anomaly_share / (1 - test_anomaly_share))
    anomalous = rng.permutation(anomalous)[:keep]
    test_half = rng.permutation(np.concatenate([normal, anomalous]))
  return train_rows, test_half


def validation_split(train_rows, validation_share, split_seed=42):
  """(train_rows, validation_rows): a seeded `validation_share` of the normal training rows."""
  if not 0 <= validation_share < 1:
    raise ValueError(f"--validation_share must be in [0, 1), got {validation_share}")
  if not validation_share:
    return train_rows, train_rows[:0]
  rows = np.random.RandomState(split_seed + 1).permutation(train_rows)
  n_val = int(round(len(rows) * validation_share))
  # Not sorted: the training rows stay in random order (the input pipeline's shuffle buffer
  # is smaller than KDD99's training half, whose file is ordered by attack type).
  return rows[n_val:], rows[:n_val]


def shuffled_columns(columns, rows, seed=0):
  """The raw `columns` at `rows`, each column permuted independently.

  Each value keeps its column's marginal distribution while the dependencies between
  columns are broken: label-free stand-ins for anomalies (see engan_tf.anomaly).
  """
  rng = np.random.RandomState(seed)
  return {c: v[rows][rng.permutation(len(rows))] for c, v in columns.items()}


def tabular_source(name, schema, columns, is_anomaly, split_seed=42, test_anomaly_share=None,
                   default_latent_dim=32, source_path=None, validation_share=0.0,
                   preprocessing=None, file_fingerprint=None, recipe=None,
                   development_split=False):
  """The `DataSource` of a parsed table (KDD99 or a user's CSV): see the module docstring.

  Without labels (`is_anomaly` None) every row trains except the validation rows, which
  are also the (unlabelled) test set: evaluation reports the share of them flagged, the
  false-alarm rate on new normal data.
  With `validation_share` > 0 that share of the normal training rows is held out
  (`anomaly.x_val`), with a copy whose columns are shuffled independently
  (`anomaly.x_val_shuffled`): the label-free model selection of engan_tf.anomaly.
  A given `preprocessing` (a trained model's, from its model_dir) is used as it is: the
  vocabularies and scaling are never refitted for a model that exists.
  `recipe(n_train, n_features)` gives the TrainConfig values --recipe=auto applies
  (engan_tf.recipes.tabular for a user's table).
  A labelled test half without an anomaly (or without a normal row) cannot give F1 or
  AUROC: its labels are dropped with a warning, and evaluation reports the share flagged.
  `development_split` (labelled tables only) evaluates on a split of the training half
  instead of the test half (`anomaly_split(development=True)`).
  """
  labelled = is_anomaly is not None
  if development_split and not labelled:
    raise ValueError(f"{source_path or name}: --development_split splits a labelled table's "
                     "training half; give --label_column, or leave the flag out")
  if labelled:
    train_rows, test_rows = anomaly_split(is_anomaly, split_seed, test_anomaly_share,
                                          development=development_split)
    train_rows, val_rows = validation_split(train_rows, validation_share, split_seed)
  else:  # nothing to test against: every row trains but the held-out validation rows
    is_anomaly = np.zeros(len(columns[schema.columns[0]]), np.int64)
    train_rows, val_rows = validation_split(np.arange(len(is_anomaly)), validation_share,
                                            split_seed)
    test_rows = val_rows  # evaluation reports the share of held-out normal rows flagged
  if len(train_rows) < 2:
    raise TabularDataError(f"{source_path or name}: only {len(train_rows)} normal training rows")
  if labelled and len(set(is_anomaly[test_rows].tolist())) < 2:
    logging.warning("%s: the test half holds %s: label metrics (F1, AUROC, AUPRC) are skipped "
                    "and evaluation reports the share flagged only", source_path or name,
                    "no anomaly" if not is_anomaly[test_rows].any() else "no normal row")
    labelled = False
  if preprocessing is None:
    preprocessing = build_preprocessing(schema, columns, train_rows)
  x_train = apply_preprocessing(preprocessing, schema, columns, train_rows)
  x_test = apply_preprocessing(preprocessing, schema, columns, test_rows)

  def train_dataset(batch_size, n_critic, seed):
    return data_lib.array_train_dataset(x_train, batch_size, n_critic, seed)

  anomaly = data_lib.AnomalyData(
      x_train=x_train, x_test=x_test, y_test=is_anomaly[test_rows] if labelled else None,
      train_rows=train_rows, test_rows=test_rows)
  if len(val_rows):
    shuffled = shuffled_columns(columns, val_rows, seed=split_seed)
    anomaly.x_val = apply_preprocessing(preprocessing, schema, columns, val_rows)
    anomaly.x_val_shuffled = apply_preprocessing(preprocessing, schema, shuffled)
  return data_lib.DataSource(name, "tabular", (x_train.shape[1],), train_dataset,
                             default_networks="kdd", default_latent_dim=default_latent_dim,
                             recipe=recipe(len(x_train), x_train.shape[1]) if recipe else None,
                             anomaly=anomaly, fingerprint=file_fingerprint,
                             tabular=data_lib.TabularPreprocessing(preprocessing,
                                                                    schema.raw_feature_spec()))


CSV_VALIDATION_SHARE = 0.2  # a user's table: held-out normal rows set the threshold


@data_lib.register_dataset("csv")
def load_csv(data_dir=None, seed=0, data_path=None, label_column=None, categorical_columns=None,
             split_seed=42, validation_share=CSV_VALIDATION_SHARE, anomaly_label=None,
             preprocessing=None, development_split=False, **unused):
  """A user's CSV (with a header line): --data_path, --label_column, --categorical_columns.

  The label column (optional) holds 0/1 or true/false, 1 = anomaly; or any values, with
  --anomaly_label naming the one that marks an anomaly. A share (CSV_VALIDATION_SHARE) of
  the normal training rows is held out by default: the anomaly threshold is set on them.
  """
  del data_dir, seed, unused
  if not data_path:
    raise ValueError("--dataset=csv needs --data_path=FILE.csv")
  if anomaly_label is not None and not label_column:
    raise ValueError("--anomaly_label needs --label_column (the column that holds it)")
  schema, columns = read_csv(data_path, categorical=categorical_columns or (),
                             label_column=label_column)
  labels = (binary_labels(columns[label_column], data_path, label_column, anomaly_label)
            if label_column else None)
  rows = len(columns[schema.columns[0]])
  return tabular_source("csv", schema, columns, labels, split_seed=split_seed,
                        source_path=data_path, validation_share=validation_share,
                        preprocessing=preprocessing, development_split=development_split,
                        file_fingerprint=fingerprint(data_path, rows), recipe=recipes.tabular)
