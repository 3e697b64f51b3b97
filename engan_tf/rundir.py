"""A model_dir: every file a training run writes, and the one object that reads and writes them.

  model_dir/
    config.json              the TrainConfig (dataclass fields) and the data's fingerprint
    data.json                what the model knows of its data without it (engan_tf.data.describe)
    preprocessing.keras      tabular data: the fitted raw-record -> feature model (never refit)
    feature_medians.json     anomaly data: the training rows' median and mean feature vectors
                             (the reference record of the exported scorer's energy
                             explanations: medians, and each one-hot block's mode)
    checkpoints/ckpt-<step>  all networks, optimizers, the random stream (and the average)
    selected/ckpt-<step>     the evaluated model kept by --select_metric
    selected.json            {"step", "metric", "value", "metrics"} of that model
    selected/anomaly_threshold.json   the selected model's thresholds
    eval.jsonl               one line per evaluation: {"step", "final", <metric>: value}
    final_eval.json          {"step", "final_eval": metrics[, "stopped_by"]}
    anomaly_threshold.json   the fitted anomaly thresholds and the checkpoint step they belong to
    evaluate.json            evaluate.py's metrics (evaluate_selected.json: of selected/)
    samples.png              the final evaluation's picture: density and samples, or a grid
    scores.png               anomaly models: the final evaluation's histogram of test scores
    tensorboard/             summaries
    workertemp/              other workers' scratch space in multi-worker runs (deleted)
    members/<k>/             --ensemble_size > 1: member k's own run (all of the above but
                             the thresholds and explanations' files, which are the ensemble's)
    ensemble.json            --ensemble_size > 1: {"members": [{"path", "seed", "median",
                             "spread"}]}, the members' standardisation (engan_tf.ensemble)
    support_wall.json        tabular anomaly models: {"step", "margin", "width", "scale"},
                             the scoring energy's support wall (engan_tf.support)

Every write goes through tf.io.gfile (so gs:// and other filesystems work), and JSON files
are written to a temporary name and renamed, so a crash never leaves half a file.

Example (in TensorFlow's in-memory file system; any path works):
  >>> run = RunDir("ram://runs/kdd")
  >>> run.write_config(config_lib.TrainConfig(dataset="kddcup99"))
  >>> run.save_thresholds(AnomalyThresholds(step=42500, thresholds={"score_norm": 1.2e-3,
  ...                                                              "energy": -3.1}))
  >>> run.read_config().dataset
  'kddcup99'
  >>> run.load_thresholds().threshold
  0.0012
"""

import dataclasses
import json
import os
import tempfile
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from engan_tf import config as config_lib
from engan_tf import support

CHECKPOINTS = ("latest", "selected")


@dataclasses.dataclass(frozen=True)
class AnomalyThresholds:
  """The anomaly decision thresholds of one checkpoint (score > threshold: anomalous)."""
  step: int  # the generator step of the checkpoint whose energy they were fit on
  thresholds: Dict[str, float]  # {decision function: threshold}
  decision_function: str = "score_norm"  # the one the exported `anomaly` signature uses
  quantile: float = 0.95  # of the scores on normal rows: 1 - the stated false-alarm rate
  fit_on: str = "training"  # which normal rows: "validation" (held out) or "training"
  # The share of new normal records the threshold flags, from the held-out rows' number
  # (engan_tf.anomaly.promised_false_alarm_rate); None when fit on training rows.
  promised_false_alarm_rate: Optional[float] = None
  held_out_rows: int = 0  # how many held-out rows they were fit on (0: training rows)

  @property
  def threshold(self):
    return self.thresholds[self.decision_function]


@dataclasses.dataclass(frozen=True)
class FeatureStatistics:
  """The training rows' per-feature statistics in the model's space (feature_medians.json)."""
  medians: np.ndarray  # float32 [n_features]
  means: Optional[np.ndarray] = None  # float64 [n_features]; None: saved before means were


class RunDir:
  """The files of one run (see the module docstring)."""

  CONFIG = "config.json"
  EVAL_LOG = "eval.jsonl"
  FINAL_EVAL = "final_eval.json"
  SELECTED_FILE = "selected.json"
  THRESHOLD_FILE = "anomaly_threshold.json"
  SAMPLES_PNG = "samples.png"
  DATA_DESCRIPTION = "data.json"
  PREPROCESSING = "preprocessing.keras"
  FEATURE_MEDIANS = "feature_medians.json"
  ENSEMBLE_FILE = "ensemble.json"
  SUPPORT_WALL_FILE = "support_wall.json"

  def __init__(self, path):
    self.path = str(path)

  def __repr__(self):
    return f"RunDir({self.path!r})"

  def file(self, name):
    return os.path.join(self.path, name)

  def exists(self):
    return tf.io.gfile.exists(self.file(self.CONFIG))

  # config.json
  def read_config(self) -> config_lib.TrainConfig:
    path = self.file(self.CONFIG)
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError(
          f"{path} not found: {self.path!r} is not a model_dir written by train.py")
    return config_lib.TrainConfig.from_dict(self._read_json(self.CONFIG))

  def write_config(self, config: config_lib.TrainConfig, data_fingerprint=None):
    """config.json: the config's fields, and the fingerprint of the data file (if any)."""
    record = dataclasses.asdict(config)
    if data_fingerprint is not None:
      record["data_fingerprint"] = data_fingerprint
    self._write_json(self.CONFIG, record)

  def data_fingerprint(self) -> Optional[dict]:
    """{"path", "sha256", "rows"} of the file the run trained on, or None."""
    if not self.exists():
      return None
    return self._read_json(self.CONFIG).get("data_fingerprint")

  # what the model knows of its data
  def save_data_description(self, description, preprocessing=None):
    """data.json and, for tabular data, preprocessing.keras (written once, at the start)."""
    if preprocessing is not None:
      local = self.file(self.PREPROCESSING)
      # Keras writes .keras archives to local paths; other filesystems get a copy.
      if "://" in self.path:
        with tempfile.TemporaryDirectory() as tmp:
          preprocessing.save(os.path.join(tmp, self.PREPROCESSING))
          tf.io.gfile.copy(os.path.join(tmp, self.PREPROCESSING), local, overwrite=True)
      else:
        preprocessing.save(f"{local}.tmp.keras")
        tf.io.gfile.rename(f"{local}.tmp.keras", local, overwrite=True)
    self._write_json(self.DATA_DESCRIPTION, description)

  def load_data_description(self):
    """(description dict, preprocessing keras.Model or None), or (None, None) if absent."""
    if not tf.io.gfile.exists(self.file(self.DATA_DESCRIPTION)):
      return None, None
    description = self._read_json(self.DATA_DESCRIPTION)
    preprocessing = None
    path = self.file(self.PREPROCESSING)
    if tf.io.gfile.exists(path):
      import keras  # pylint: disable=g-import-not-at-top
      from engan_tf.data import tabular  # noqa: F401  registers the OneHot layer
      with tempfile.TemporaryDirectory() as tmp:
        local = path
        if "://" in self.path:
          local = os.path.join(tmp, self.PREPROCESSING)
          tf.io.gfile.copy(path, local)
        try:
          preprocessing = keras.saving.load_model(local)
        except Exception as e:  # pylint: disable=broad-except
          raise ValueError(f"{path} could not be loaded ({e}); the model_dir's preprocessing "
                           "is damaged: retrain in a new --model_dir") from e
    return description, preprocessing

  def save_feature_statistics(self, x_train):
    """feature_medians.json: the per-feature median and mean of the training rows (model
    space), {"medians": [n_features floats], "means": [...], "rows": n} (written once, at
    the start; a one-hot block's largest mean is its most frequent category)."""
    x = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
    self._write_json(self.FEATURE_MEDIANS, {"medians": np.median(x, axis=0).tolist(),
                                            "means": x.mean(axis=0, dtype=np.float64).tolist(),
                                            "rows": int(len(x))})

  def load_feature_statistics(self) -> Optional[FeatureStatistics]:
    """The saved FeatureStatistics, or None (none saved)."""
    if not tf.io.gfile.exists(self.file(self.FEATURE_MEDIANS)):
      return None
    saved = self._read_json(self.FEATURE_MEDIANS)
    means = saved.get("means")
    return FeatureStatistics(np.asarray(saved["medians"], np.float32),
                             None if means is None else np.asarray(means, np.float64))

  def check_same_run(self, config: config_lib.TrainConfig):
    """A model_dir holds one run: refuse to resume it with another data set or architecture."""
    if not self.exists():
      return
    saved, new = self.read_config().identity(), config.identity()
    for key in config_lib.IDENTITY_KEYS:
      if saved[key] != new[key]:
        what = "--ema_decay > 0 (weight averaging)" if key == "ema_decay_enabled" else key
        raise ValueError(
            f"{self.path!r} holds a run with {what}={saved[key]!r}, but this run asks for "
            f"{what}={new[key]!r}. Use a new --model_dir (runs are never overwritten).")

  # an ensemble's members (engan_tf.ensemble)
  def member_dir(self, k):
    """The model_dir of ensemble member k."""
    return os.path.join(self.path, "members", str(int(k)))

  def save_ensemble(self, seeds, scales):
    """ensemble.json: each member's path (relative), seed and standardisation."""
    self._write_json(self.ENSEMBLE_FILE, {"members": [
        {"path": os.path.join("members", str(k)), "seed": int(seed),
         "median": float(scale.median), "spread": float(scale.spread)}
        for k, (seed, scale) in enumerate(zip(seeds, scales))]})

  def load_ensemble(self):
    """[(member model_dir, (median, spread))] from ensemble.json, or None (not an ensemble,
    or its members have not all finished)."""
    if not tf.io.gfile.exists(self.file(self.ENSEMBLE_FILE)):
      return None
    members = self._read_json(self.ENSEMBLE_FILE)["members"]
    return [(self.file(m["path"]), (float(m["median"]), float(m["spread"]))) for m in members]

  # the scoring energy's support wall (engan_tf.support)
  def save_support_wall(self, wall):
    self._write_json(self.SUPPORT_WALL_FILE, dataclasses.asdict(wall))

  def remove_support_wall(self):
    if tf.io.gfile.exists(self.file(self.SUPPORT_WALL_FILE)):
      tf.io.gfile.remove(self.file(self.SUPPORT_WALL_FILE))

  def load_support_wall(self):
    """The saved engan_tf.support.SupportWall, or None (none: no wall, or an older run)."""
    if not tf.io.gfile.exists(self.file(self.SUPPORT_WALL_FILE)):
      return None
    saved = self._read_json(self.SUPPORT_WALL_FILE)
    try:
      return support.SupportWall(step=int(saved["step"]), margin=float(saved["margin"]),
                                 width=float(saved["width"]), scale=float(saved["scale"]))
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f"{self.file(self.SUPPORT_WALL_FILE)} is damaged ({e!r}): retrain in "
                       "a new --model_dir (the thresholds were fit with the wall)") from None

  # checkpoints
  def checkpoint_dir(self, root=None):
    """checkpoints/ under root (default: this model_dir; other workers write elsewhere)."""
    return os.path.join(root or self.path, "checkpoints")

  @property
  def selected_dir(self):
    return self.file("selected")

  def checkpoint_path(self, checkpoint="latest"):
    """The checkpoint prefix of `checkpoint` ("latest" or "selected"); raises if absent."""
    if checkpoint not in CHECKPOINTS:
      raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
    if checkpoint == "selected":
      path = tf.train.latest_checkpoint(self.selected_dir)
      if path is None:
        raise FileNotFoundError(f"no selected checkpoint in {self.selected_dir}: train with "
                                f"--select_metric (or use the latest checkpoint)")
      return path
    path = tf.train.latest_checkpoint(self.checkpoint_dir())
    if path is None:
      raise FileNotFoundError(f"no checkpoint in {self.checkpoint_dir()}: train it first")
    return path

  @staticmethod
  def checkpoint_step(path):
    """The generator step in a checkpoint's name (ckpt-<step>)."""
    return int(path.rsplit("-", 1)[1])

  def load_selected(self) -> Optional[dict]:
    """selected.json ({"step", "metric", "value", "metrics"}) or None."""
    if not tf.io.gfile.exists(self.file(self.SELECTED_FILE)):
      return None
    return self._read_json(self.SELECTED_FILE)

  def save_selected(self, record):
    self._write_json(self.SELECTED_FILE, record)

  # evaluations
  def append_eval(self, record):
    """Adds an evaluation to eval.jsonl, replacing one of the same step (a resumed run that
    evaluates a step again, e.g. after a kill during its final evaluation)."""
    kept = [r for r in self.read_evals() if r["step"] != record["step"]]
    path = self.file(self.EVAL_LOG)
    with tf.io.gfile.GFile(f"{path}.tmp", "w") as f:
      for r in kept + [record]:
        f.write(json.dumps(r) + "\n")
    tf.io.gfile.rename(f"{path}.tmp", path, overwrite=True)

  def read_evals(self):
    if not tf.io.gfile.exists(self.file(self.EVAL_LOG)):
      return []
    with tf.io.gfile.GFile(self.file(self.EVAL_LOG)) as f:
      return [json.loads(line) for line in f if line.strip()]

  def write_final_eval(self, summary):
    self._write_json(self.FINAL_EVAL, summary)

  def write_evaluate(self, record, checkpoint="latest"):
    """evaluate.py's metrics; returns the file name."""
    name = "evaluate.json" if checkpoint == "latest" else "evaluate_selected.json"
    self._write_json(name, record)
    return name

  @property
  def samples_png(self):
    return self.file(self.SAMPLES_PNG)

  def picture_png(self, name="samples"):
    """The final evaluation's picture: samples.png, or scores.png (anomaly models)."""
    return self.file(f"{name}.png")

  @property
  def tensorboard_dir(self):
    return self.file("tensorboard")

  # anomaly thresholds
  def _threshold_name(self, checkpoint):
    """anomaly_threshold.json of the latest checkpoint, selected/anomaly_threshold.json of
    the selected one."""
    return self.THRESHOLD_FILE if checkpoint == "latest" else os.path.join("selected",
                                                                           self.THRESHOLD_FILE)

  def save_thresholds(self, thresholds: AnomalyThresholds, checkpoint="latest"):
    self._write_json(self._threshold_name(checkpoint), dataclasses.asdict(thresholds))

  def load_thresholds(self, checkpoint="latest") -> Optional[AnomalyThresholds]:
    """The thresholds saved for a checkpoint, or None (not an anomaly model, or never fit)."""
    name = self._threshold_name(checkpoint)
    if not tf.io.gfile.exists(self.file(name)):
      return None
    record = self._read_json(name)
    return AnomalyThresholds(step=int(record["step"]), thresholds=dict(record["thresholds"]),
                             decision_function=record.get("decision_function", "score_norm"),
                             quantile=float(record.get("quantile", 0.95)),
                             fit_on=record.get("fit_on", "training"),
                             promised_false_alarm_rate=record.get("promised_false_alarm_rate"),
                             held_out_rows=int(record.get("held_out_rows", 0)))

  def _read_json(self, name):
    path = self.file(name)
    try:
      with tf.io.gfile.GFile(path) as f:
        return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path} is not valid JSON ({e}); it was not written by this "
                       "library or was damaged") from e

  def _write_json(self, name, obj):
    path = self.file(name)
    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
      json.dump(obj, f, indent=2, sort_keys=True)
    tf.io.gfile.rename(tmp, path, overwrite=True)
