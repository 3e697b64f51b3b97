"""`AnomalyDetector`: EnGAN's energy as a scikit-learn-style outlier detector.

It follows scikit-learn's outlier-detector interface (IsolationForest, OneClassSVM,
LocalOutlierFactor(novelty=True)) by duck typing, without importing scikit-learn:

  fit(X)                 trains EnGAN on the rows of X (all normal) with the same default
                         recipe as `train.py --dataset=csv` (engan_tf/recipes.py), in
                         model_dir (a temporary directory unless given)
  score_samples(X)       higher = more normal: minus the anomaly score of the decision
                         function the model chose on held-out rows (`decision_function_`:
                         "score_norm", ||grad_x E(x)||^2, or "energy", E(x)); so
                         score_samples = -E(x) for the energy. E includes the support
                         wall (`support_wall_`, engan_tf.support): a row beyond its
                         columns' training range scores lower the further out it lies
  decision_function(X)   score_samples(X) - offset_: negative = outlier
  predict(X)             +1 normal, -1 anomaly: the exported threshold's rule (anomaly score
                         > threshold), and every row with a non-finite value or score is -1
  contamination          "auto": the threshold flags a false_alarm_rate (0.05) share of
                         held-out normal rows (the exported model's threshold); a float in
                         (0, 0.5]: that share of the training rows X is flagged, as in
                         IsolationForest
  model_dir              where fit trains; None: a temporary directory that is removed when
                         the detector is garbage-collected or refit (save() keeps a copy)
  save(path) / AnomalyDetector.load(path), export(export_dir)

X is a 2-D numpy array (columns "x0", "x1", ...) or a pandas DataFrame; non-numeric columns
(object, string, category dtype) and `categorical_columns` are one-hot encoded. A fitted
detector is a model_dir: everything it needs, preprocessing included, is saved there.

Example (fit trains a model: the doctests run only the first line):
  >>> AnomalyDetector(contamination=0.1)    # shows the parameters that are not the defaults
  AnomalyDetector(contamination=0.1)
  >>> detector = AnomalyDetector(random_state=0).fit(train_rows)  # doctest: +SKIP
  >>> labels = detector.predict(new_rows)   # +1 / -1, one per row  # doctest: +SKIP
  >>> paths = detector.export("exported")   # TF Serving SavedModels  # doctest: +SKIP
"""

import csv
import inspect
import os
import re
import shutil
import sys
import tempfile
import weakref

import numpy as np

_PARAMS_FILE = "detector.json"


class NotFittedError(ValueError, AttributeError):
  """The detector is used before fit (scikit-learn's NotFittedError has the same bases)."""


def _columns_of(X, categorical_columns=None):
  """(column names, {name: 1-D array}, categorical names) of a 2-D array or DataFrame."""
  if hasattr(X, "columns") and hasattr(X, "dtypes"):  # a pandas DataFrame
    names = [str(c) for c in X.columns]
    columns = {str(c): X[c].to_numpy() for c in X.columns}
    categorical = [str(c) for c in X.columns  # text, category, object: not numbers
                   if getattr(X[c].dtype, "kind", "O") not in "biuf"]
  else:
    array = np.asarray(X)
    if array.ndim != 2:
      raise ValueError(f"Expected a 2D array of shape [n_samples, n_features], got shape "
                       f"{array.shape}. Reshape your data (e.g. X.reshape(-1, 1)).")
    names = [f"x{i}" for i in range(array.shape[1])]
    columns = {name: array[:, i] for i, name in enumerate(names)}
    categorical = [] if array.dtype.kind in "biuf" else list(names)
  categorical = sorted(set(categorical) | set(categorical_columns or ()), key=names.index)
  for name in names:
    if name not in categorical:
      try:
        columns[name] = np.asarray(columns[name], np.float64)
      except (TypeError, ValueError) as e:
        raise ValueError(f"column {name!r} is not numeric: list it in categorical_columns "
                         f"({e})") from None
    else:
      columns[name] = np.asarray([str(v).strip() for v in columns[name]])
  return names, columns, categorical


def _safe_names(names):
  """Column names usable as SavedModel input names (letters, digits, '_', '.', '-')."""
  safe = []
  for name in names:
    candidate = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
    candidate = candidate if re.match(r"^[A-Za-z0-9.]", candidate) else f"c{candidate}"
    while candidate in safe:
      candidate += "_"
    safe.append(candidate)
  return safe


def _write_csv(path, names, columns, header):
  """X as the CSV `train.py --dataset=csv` reads (floats written exactly)."""
  n = len(columns[names[0]])
  text = [columns[c] if columns[c].dtype.kind in "US" else np.char.mod("%.17g", columns[c])
          for c in names]
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    for i in range(n):
      writer.writerow([col[i] for col in text])


class AnomalyDetector:
  """EnGAN as a scikit-learn-style outlier detector (see the module docstring)."""

  def __init__(self, contamination="auto", model_dir=None, random_state=0,
               categorical_columns=None, train_steps=None, false_alarm_rate=0.05,
               verbose=0, config=None):
    self.contamination = contamination
    self.model_dir = model_dir
    self.random_state = random_state
    self.categorical_columns = categorical_columns
    self.train_steps = train_steps
    self.false_alarm_rate = false_alarm_rate
    self.verbose = verbose
    self.config = config  # further TrainConfig fields, e.g. {"lambda_penalty": 1e3}

  # scikit-learn's estimator protocol, by duck typing
  @classmethod
  def _get_param_names(cls):
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

  def get_params(self, deep=True):
    del deep
    return {name: getattr(self, name) for name in self._get_param_names()}

  def set_params(self, **params):
    for name, value in params.items():
      if name not in self._get_param_names():
        raise ValueError(f"Invalid parameter {name!r} for AnomalyDetector; valid: "
                         f"{', '.join(self._get_param_names())}")
      setattr(self, name, value)
    return self

  def __repr__(self):
    changed = {k: v for k, v in self.get_params().items()
               if v != inspect.signature(type(self).__init__).parameters[k].default}
    return "AnomalyDetector(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"

  def __sklearn_tags__(self):
    """scikit-learn >= 1.6 reads an estimator's tags here (an outlier detector)."""
    from sklearn.utils import Tags, TargetTags, InputTags  # pylint: disable=g-import-not-at-top
    return Tags(estimator_type="outlier_detector", target_tags=TargetTags(required=False),
                input_tags=InputTags(two_d_array=True, categorical=True, string=True,
                                     allow_nan=False))

  # fitting
  def fit(self, X, y=None, categorical_columns=None):
    """Trains on the rows of X (y is ignored: every row is normal). Returns self."""
    del y
    from engan_tf import config as config_lib  # pylint: disable=g-import-not-at-top
    from engan_tf import training  # pylint: disable=g-import-not-at-top
    if self.contamination != "auto" and not 0 < float(self.contamination) <= 0.5:
      raise ValueError(f"contamination must be 'auto' or in (0, 0.5], got "
                       f"{self.contamination!r}")
    names, columns, categorical = _columns_of(
        X, categorical_columns or self.categorical_columns)
    for name in names:
      if name not in categorical and not np.isfinite(columns[name]).all():
        raise ValueError(f"Input X contains NaN or infinity (column {name!r}); impute or "
                         "drop those rows before fit")
    if len(columns[names[0]]) < 4:
      raise ValueError(f"fit needs at least 4 rows, got {len(columns[names[0]])}")
    model_dir = self.model_dir
    if getattr(self, "_tmp", None) is not None:
      self._tmp()  # a refit replaces the temporary model_dir of the previous fit
      self._tmp = None
    if model_dir is None:
      tmp = tempfile.mkdtemp(prefix="engan_detector_")
      # Owned by this detector: removed with it (save() copies what should outlive it).
      self._tmp = weakref.finalize(self, shutil.rmtree, tmp, ignore_errors=True)
      model_dir = os.path.join(tmp, "model")
    if os.path.exists(os.path.join(model_dir, "config.json")):
      shutil.rmtree(model_dir)  # a new fit replaces the detector saved there before
    os.makedirs(model_dir, exist_ok=True)
    data_path = os.path.join(model_dir, "train.csv")
    safe = _safe_names(names)
    _write_csv(data_path, names, columns, safe)
    options = dict(data_path=data_path,
                   categorical_columns=[safe[names.index(c)] for c in categorical] or None)
    values = dict(dataset="csv", model_dir=model_dir, seed=int(self.random_state or 0),
                  dataset_options={k: v for k, v in options.items() if v is not None},
                  false_alarm_rate=float(self.false_alarm_rate), verbose=int(self.verbose),
                  jit_compile=True)
    if self.train_steps is not None:
      values["train_steps"] = int(self.train_steps)
    values.update(self.config or {})
    training.train(config_lib.TrainConfig(**values))
    self._load(model_dir, names, categorical)
    if self.contamination != "auto":
      self.offset_ = float(np.quantile(self.score_samples(X), float(self.contamination)))
    return self

  def _load(self, model_dir, names, categorical):
    from engan_tf import training  # pylint: disable=g-import-not-at-top
    restored = training.restore(model_dir, with_data=False)
    self.model_dir_ = model_dir
    self.feature_names_in_ = np.asarray(names, dtype=object)
    self.n_features_in_ = len(names)
    self.categorical_columns_ = list(categorical)
    self._energy = restored.model.energy
    # The scoring energy's support wall (engan_tf.support): None for a model without one.
    self.support_wall_ = getattr(restored.model, "wall", None)
    self._preprocessing = restored.source.tabular.model
    self._raw_spec = restored.source.tabular.raw_feature_spec
    self.decision_function_ = restored.thresholds.decision_function
    self.threshold_ = restored.thresholds.threshold
    self.offset_ = -self.threshold_

  def _check_fitted(self):
    if not hasattr(self, "model_dir_"):
      error = NotFittedError
      if "sklearn.exceptions" in sys.modules:  # the caller uses scikit-learn: its own class
        error = sys.modules["sklearn.exceptions"].NotFittedError
      raise error("This AnomalyDetector instance is not fitted yet. Call 'fit' with "
                  "appropriate arguments before using this estimator.")

  # scoring
  def _anomaly_scores(self, X):
    """(anomaly score [n] of decision_function_, nonfinite [n] bool)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
    self._check_fitted()
    names, columns, _ = _columns_of(X, self.categorical_columns_)
    if len(names) != self.n_features_in_:
      raise ValueError(f"X has {len(names)} features, but AnomalyDetector is expecting "
                       f"{self.n_features_in_} features as input")
    if hasattr(X, "columns"):
      missing = [c for c in self.feature_names_in_ if c not in columns]
      if missing:
        raise ValueError(f"X lacks the training columns {missing}")
      ordered = [columns[c] for c in self.feature_names_in_]
    else:  # arrays: by position
      ordered = [columns[name] for name in names]
    # The model's raw columns are the training columns, in order, under their safe names.
    columns = dict(zip(self._raw_spec, ordered))
    scores, nonfinite = [], []
    n = len(ordered[0])
    for start in range(0, n, 8192):  # bounded memory
      feed = {c: tf.constant(columns[c][start:start + 8192].astype(
          np.float32 if d != tf.string else str)) for c, d in self._raw_spec.items()}
      features = np.asarray(self._preprocessing(feed), np.float32)
      part = anomaly.score(self._energy, features)[self.decision_function_]
      scores.append(part)
      nonfinite.append(~np.isfinite(features).all(axis=1) | ~np.isfinite(part))
    return np.concatenate(scores), np.concatenate(nonfinite)

  def score_samples(self, X):
    """Higher = more normal: minus the anomaly score (-E(x) or -||grad_x E(x)||^2)."""
    scores, nonfinite = self._anomaly_scores(X)
    return np.where(nonfinite, -np.inf, -scores)

  def decision_function(self, X):
    """score_samples(X) - offset_: negative for outliers."""
    return self.score_samples(X) - self.offset_

  def predict(self, X):
    """+1 normal, -1 anomaly (decision_function < 0, or a non-finite row)."""
    return np.where(self.decision_function(X) < 0, -1, 1)

  def fit_predict(self, X, y=None):
    return self.fit(X, y).predict(X)

  # persistence
  def save(self, path):
    """Copies the fitted model_dir to `path` (a directory AnomalyDetector.load reads)."""
    import json  # pylint: disable=g-import-not-at-top
    self._check_fitted()
    if os.path.abspath(path) != os.path.abspath(self.model_dir_):
      shutil.copytree(self.model_dir_, path, dirs_exist_ok=False)
    params = {k: v for k, v in self.get_params().items() if k != "model_dir"}
    with open(os.path.join(path, _PARAMS_FILE), "w") as f:
      json.dump({"params": params, "feature_names": list(self.feature_names_in_),
                 "categorical_columns": self.categorical_columns_, "offset": self.offset_}, f)
    return path

  @classmethod
  def load(cls, path):
    """A fitted detector from a directory written by save (or fit's model_dir)."""
    import json  # pylint: disable=g-import-not-at-top
    with open(os.path.join(path, _PARAMS_FILE)) as f:
      saved = json.load(f)
    detector = cls(model_dir=path, **saved["params"])
    detector._load(path, saved["feature_names"], saved["categorical_columns"])
    detector.offset_ = saved["offset"]
    return detector

  def export(self, export_dir, version=None):
    """TF Serving SavedModels (engan_tf.serving): {"sampler": path, "scorer": path}."""
    from engan_tf import serving as export_lib  # pylint: disable=g-import-not-at-top
    self._check_fitted()
    # The exported is_anomaly is this detector's predict: the same threshold.
    threshold = None if self.contamination == "auto" else -self.offset_
    return export_lib.export(self.model_dir_, export_dir, version=version,
                             anomaly_threshold=threshold)
