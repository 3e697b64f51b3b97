"""Exports a trained EnGAN as two TF Serving SavedModels: a sampler and a scorer.

(Longer than 300 lines by choice: every signature shares the run-time input checks, the
fail-closed decision rule and the explanation math, and a served model is one file to audit.)

  export_dir/sampler/<version>/          (TF Serving's layout: saved_model.pb, variables/,
                                           assets.extra/tf_serving_warmup_requests; also
                                           assets.extra/sample_defaults.json, the `sample`
                                           inputs to send: mcmc_steps, and step_size = the
                                           model's --sample_step_size)
    serving_default = generate
        z float32 [None, latent_dim]  ->  x float32 [None, *data_shape]        x = G(z)
    sample, sample_paper
        z float32 [None, latent_dim], mcmc_steps int32 [], step_size float32 []
        ->  x [None, *data_shape], z [None, latent_dim], acceptance_rate [None]
        latent MALA for `mcmc_steps` steps of size alpha = step_size (paper Section 4,
        `engan_tf.mcmc.latent_mala`), then x = G(z_T); `sample` on
        U(z) = E(G(z)) + |z|^2 / 2 (the N(0, I) latent prior: measured best),
        `sample_paper` on the paper's U(z) = E(G(z)).
  export_dir/scorer/<version>/
    serving_default = score
        x float32 [None, *data_shape]  ->  energy [None], score_norm [None]
        energy = E(x), score_norm = ||grad_x E(x)||^2 (the paper's anomaly decision function)
    anomaly            (anomaly models: a threshold is known, see below)
        x  ->  score [None], is_anomaly bool [None], nonfinite bool [None]
        is_anomaly = score > threshold, or nonfinite: a record with a NaN or infinite feature,
        energy or score is flagged (fails closed), and `nonfinite` says which.
    score_records      (tabular models: a raw-column preprocessing is known, see below)
        one [None] input per raw column  ->  energy, score_norm, unseen_categories int32
        [None] (categorical values of the record never seen in training; spaces around
        values are stripped, as in training), out_of_range_columns int32 [None] (numeric
        columns beyond the training range widened by the support wall's margin,
        engan_tf.support; without a wall, the range itself)[, is_anomaly, nonfinite],
        column_shares float32 [None, n_columns] (raw column order), top_column string [None]
    explain            (anomaly models)
        x  ->  column_shares float32 [None, n_features], top_column string [None]
        the same pieces with each feature a column (tabular feature names: the numeric
        column's name, "<column>=<value>" for a one-hot feature; other data: f0, f1, ...):
        of a one-hot block only the record's own category's feature (or, unseen, every one)
        has a score-norm share

Explanations (`column_shares`, `top_column`): each raw column's share of the anomaly score
of the decision function the thresholds name (score_norm without thresholds). With g =
grad_x E(x) in the model's space, each column c gets a nonnegative piece P_c (for the
score norm the sum of its features' pieces p_i) and

  share_c = P_c / sum_c' P_c'                          (the shares sum to 1 over columns)

  score_norm, a numeric feature:     p_i = g_i^2
  score_norm, a one-hot feature:     p_i = (u_i g_i)^2, u the block's 0/1 one-hot of the
                                     record's value: the block's piece is g_own^2, the
                                     squared gradient on the record's own category only
                                     (gradient x input within the block)
  score_norm, an unseen category:    p_i = g_i^2 over the whole block (an all-zero block:
                                     the record left every seen category)
  energy:                            P_c = |A_c|,  A_c = sum_{i in c} g_i (x_i - r_i)

The denominator is therefore not ||g||^2 = score_norm: a one-hot block's gradient on the
categories a record does not have counts for nothing (summing it, as an earlier definition
did, made a wide column win by its width: KDD99's 66-value `service` topped nearly every
row, bench/results/kdd_explanations.md). For the energy, r is a reference record: the
training rows' median for a numeric feature, and for a one-hot block the training rows'
most frequent category (its one-hot), so A_c of a categorical column is g_own - g_mode (0
when the record has the mode; -g_mode for an unseen value), the first-order Taylor part of
E(x) - E(x with column c set to its reference) (gradient x (input - reference)). r comes
from `feature_medians.json` (medians and means of the training rows' features, saved in the
model_dir when training starts; a block's most frequent category is its largest mean). A
model_dir without medians, or, with categorical columns, without means (trained before
they were saved), explains its energy with the score-norm pieces. Which features a column
becomes, which are one-hot and their values with and without their category are probed on
the preprocessing model itself (`column_map`), not re-derived from its layout;
`engan_tf.data.tabular` min-max scales each one-hot feature with span 1, so model-space
gradients are the one-hot's own. `top_column` names the largest share. A record whose
shares are undefined (a non-finite feature, energy or gradient, or all-zero pieces) gets
all-zero shares and top_column "": non-finite records are flagged by `nonfinite` anyway.

Inputs and outputs are in the data's own scale: `x` goes through
`source.from_data_scale` before E, and G's output through `source.to_data_scale`
(both default to the identity). `score_norm` is the gradient's norm in the model's space,
the quantity the anomaly threshold is fit on. Every signature also checks its inputs' shapes
inside the graph, because the model server feeds tensors without checking them against the
signature: a wrong rank or feature count fails with one message naming the expected shape.

What the scorer needs beside the model: the anomaly thresholds (an
`engan_tf.rundir.AnomalyThresholds`, from the model_dir: `training.restore`) give it
`anomaly` (and `is_anomaly` in `score_records`), with the decision function they name
("score_norm", the paper's Section 5.4, or "energy"); a tabular source's fitted
preprocessing (`source.tabular`: raw columns -> features, StringLookup and Normalization
layers whose variables and lookup tables go in the SavedModel) gives it `score_records`.
Raw column names are its input names (letters, digits, "_", ".", "-").
`export(..., anomaly_threshold=t)` overrides the saved threshold, `decision_function=` the
saved choice of decision function (its own saved threshold then applies).

Export reads the model_dir alone (no data files) and never writes to it. Each SavedModel is
written to a hidden temporary directory next to its version directory (TF Serving ignores
names that are not numbers) and renamed into place only when both models are complete; if
the second rename fails, the first is moved back, so both versions appear or neither does.
An existing version is never overwritten. Every file goes through tf.io.gfile.

Example (needs a trained model_dir: not run by the doctests; the version is its step):
  >>> paths = export("runs/25gaussians", "/tmp/engan_export")  # doctest: +SKIP
  >>> paths["scorer"]  # doctest: +SKIP
  '/tmp/engan_export/scorer/2000'
"""

import dataclasses
import json
import os
import re
from typing import Tuple
import uuid

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from engan_tf import config as config_lib
from engan_tf import losses
from engan_tf import mcmc
from engan_tf import rundir
from engan_tf import support

SAMPLER, SCORER = "sampler", "scorer"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# The sampler's recommended `sample` inputs (a signature input has no default in TF Serving).
SAMPLE_DEFAULTS_FILE = os.path.join("assets.extra", "sample_defaults.json")
ANOMALY_SCORES = ("score_norm", "energy")
_COLUMN_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-]*$")


def default_version(model):
  """The training step of the checkpoint (generator updates), or 1 before any training."""
  step = int(getattr(model, "step", 0))
  return step if step > 0 else 1


def _identity(x):
  return x


def _item_shape_string(item_shape):
  return "[batch" + "".join(f", {d}" for d in item_shape) + "]"


def _checked(tensor, item_shape, name):
  """`tensor`, after a run-time check that its shape is [batch, *item_shape].

  tf.shape and tf.rank would fold to constants from the placeholder's declared shape; the
  raw ops read the shape of what was actually fed.
  """
  shape = tf.raw_ops.Shape(input=tensor)
  rank_ok = tf.equal(tf.raw_ops.Size(input=shape), 1 + len(item_shape))
  # Joined as one string, dims compare without broadcasting when the rank is wrong.
  got_items = tf.strings.reduce_join(tf.strings.as_string(shape[1:]), separator=",")
  want_items = ",".join(str(d) for d in item_shape)
  ok = tf.logical_and(rank_ok, tf.equal(got_items, want_items))
  check = tf.debugging.Assert(ok, [
      f"input {name} must have shape {_item_shape_string(item_shape)}, got shape", shape])
  with tf.control_dependencies([check]):
    return tf.identity(tensor)


def _checked_scalar(tensor, name, condition, requirement):
  shape = tf.raw_ops.Shape(input=tensor)
  is_scalar = tf.equal(tf.raw_ops.Size(input=shape), 0)
  check_rank = tf.debugging.Assert(is_scalar, [f"input {name} must be a scalar, got shape",
                                               shape])
  with tf.control_dependencies([check_rank]):
    tensor = tf.identity(tensor)
  check_value = tf.debugging.Assert(condition(tensor),
                                    [f"input {name} must be {requirement}, got", tensor])
  with tf.control_dependencies([check_value]):
    return tf.identity(tensor)


class _ServingModule(tf.Module):
  """A tf.Module that owns every Keras variable and lookup table its signatures use.

  tf.Module does not find Keras 3 variables by walking a Keras model, so they are listed
  here; without that, loading the SavedModel in a session fails with "Could not find
  variable". Keras layers are kept too, which saves their lookup tables (StringLookup).
  """

  def __init__(self, keras_objects):
    super().__init__()
    objects = [obj for obj in keras_objects if obj is not None]
    # The tf.Variables behind the Keras variables: those are what the graphs capture.
    self.keras_variables = [getattr(v, "value", v) for obj in objects
                            if isinstance(obj, keras.layers.Layer) for v in obj.variables]
    self.keras_objects = [obj for obj in objects
                          if isinstance(obj, tf.__internal__.tracking.Trackable)]


def _energy_and_score_norm(energy, x):
  e, score_norm = losses.energy_and_score_norm(energy, x, training=False)
  return tf.cast(e, tf.float32), tf.cast(score_norm, tf.float32)


@dataclasses.dataclass(frozen=True)
class ColumnMap:
  """Which raw column each feature of a tabular preprocessing comes from."""
  columns: Tuple[str, ...]  # raw columns, in the signature's order
  feature_names: Tuple[str, ...]  # one per feature: "<column>" or "<column>=<value>"
  membership: np.ndarray  # float32 [n_features, n_columns], one 1 per row
  # Per feature: a categorical column's one-hot feature?, and its model-space value when the
  # record has its category (on) and when it has not (off; numeric features: 1 and 0).
  onehot: np.ndarray = None  # bool [n_features]
  on_values: np.ndarray = None  # float32 [n_features]
  off_values: np.ndarray = None  # float32 [n_features]


def _probe_values(preprocessing, column, dtype):
  """Raw values of `column` that should move its features: [0, 1], or its vocabulary and
  an unseen value."""
  if dtype != tf.string:
    return np.array([0.0, 1.0], dtype.as_numpy_dtype)
  names = {layer.name for layer in preprocessing.layers}
  layer = preprocessing.get_layer(f"{column}_onehot") if f"{column}_onehot" in names else None
  vocabulary = list(getattr(layer, "vocabulary", None) or [])
  # And a value never seen (an all-zero block): a one-value vocabulary moves against it.
  return np.array(vocabulary + ["\x00engan-probe"], dtype=object)


def column_map(preprocessing, raw_spec) -> ColumnMap:
  """The feature -> raw column map of `preprocessing`, probed on the model itself.

  For each column, a batch of records that differ only in that column (numbers 0 and 1;
  a categorical column's vocabulary values, read from its "<column>_onehot" layer, and a
  value never seen) goes through the model; the features that change belong to the column.
  Every feature must belong to exactly one column. A categorical (string) column's features
  are its one-hot features: "off" is a feature's value for the value never seen, "on" its
  value for the vocabulary value that moves it.
  """
  columns = tuple(raw_spec)
  base = {c: (np.zeros([1], d.as_numpy_dtype) if d != tf.string else np.array([""], object))
          for c, d in raw_spec.items()}
  outputs = []
  for column, dtype in raw_spec.items():
    probe = _probe_values(preprocessing, column, dtype)
    feed = {c: tf.constant(probe if c == column else np.repeat(v, len(probe)))
            for c, v in base.items()}
    outputs.append((probe, np.asarray(preprocessing(feed), np.float64)))
  n_features = outputs[0][1].shape[1]
  membership = np.zeros([n_features, len(columns)], np.float32)
  names = [None] * n_features
  onehot = np.zeros([n_features], bool)
  on_values = np.ones([n_features], np.float32)
  off_values = np.zeros([n_features], np.float32)
  for j, (column, (probe, out)) in enumerate(zip(columns, outputs)):
    moved = np.flatnonzero(np.ptp(out, axis=0) > 0)
    membership[moved, j] = 1
    for k, i in enumerate(moved):
      if raw_spec[column] == tf.string:
        on = int(np.argmax(np.abs(out[:-1, i] - out[-1, i])))  # the value that moves it
        onehot[i], on_values[i], off_values[i] = True, out[on, i], out[-1, i]
        names[i] = f"{column}={probe[on]}"
      else:
        names[i] = column if len(moved) == 1 else f"{column}[{k}]"
  counts = membership.sum(axis=1)
  bad = np.flatnonzero(counts != 1)
  if bad.size:
    owners = [columns[j] for j in np.flatnonzero(membership[bad[0]])]
    raise ValueError(
        f"feature {bad[0]} of the preprocessing model depends on {len(owners)} raw columns "
        f"({', '.join(owners) or 'none'}): explanations need each feature to come from one "
        "column (engan_tf.data.tabular.build_preprocessing builds such a model)")
  return ColumnMap(columns, tuple(names), membership, onehot, on_values, off_values)


def explanation_reference(column_map_, medians, means):
  """The energy explanation's reference record r [n_features] (see the module docstring):
  `medians` for numeric features; a one-hot block's most frequent training category (the
  largest share (mean - off) / (on - off) among its features) on and the others off. None
  when a one-hot block needs `means` and there are none."""
  reference = np.asarray(medians, np.float32).reshape(-1).copy()
  if column_map_ is None or not column_map_.onehot.any():
    return reference
  if means is None:
    return None
  means = np.asarray(means, np.float64).reshape(-1)
  on, off = column_map_.on_values, column_map_.off_values
  for j in range(len(column_map_.columns)):
    block = np.flatnonzero((column_map_.membership[:, j] > 0) & column_map_.onehot)
    if block.size:
      freq = (means[block] - off[block]) / (on[block] - off[block])
      reference[block] = off[block]
      mode = block[int(np.argmax(freq))]
      reference[mode] = on[mode]
  return reference


def _energy_and_gradient(energy_fn, x):
  """(E(x) [batch], grad_x E(x) [batch, n_features] flattened), float32."""
  x = tf.convert_to_tensor(x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    energy = energy_fn(x, training=False)
    # Each record's energy depends on its own x only: the gradient of the sum is per-record.
    total = tf.reduce_sum(energy)
  grad = tf.reshape(tf.cast(tape.gradient(total, x), tf.float32), [tf.shape(x)[0], -1])
  return tf.cast(energy, tf.float32), grad


def _shares(per_column, names, undefined):
  """{column_shares, top_column} from nonnegative per-column contributions [batch, n]."""
  total = tf.reduce_sum(per_column, axis=1, keepdims=True)
  ok = (tf.reduce_all(tf.math.is_finite(per_column), axis=1) & tf.math.is_finite(total[:, 0])
        & (total[:, 0] > 0) & tf.logical_not(undefined))
  # The inner where divides rejected rows by 1: no NaN or inf is computed for them.
  shares = tf.where(ok[:, None], per_column / tf.where(ok[:, None], total, 1.0), 0.0)
  top = tf.gather(tf.constant(list(names)), tf.argmax(shares, axis=1, output_type=tf.int32))
  return {"column_shares": shares, "top_column": tf.where(ok, top, "")}


def _own_category(flat, column_map_):
  """float32 [batch, n_features]: 1 on a one-hot feature whose category the record has (its
  value nearer the feature's "on" than its "off" value), 0 elsewhere."""
  on, off = tf.constant(column_map_.on_values), tf.constant(column_map_.off_values)
  nearer = tf.abs(flat - on) < tf.abs(flat - off)
  return tf.cast(nearer & tf.constant(column_map_.onehot), tf.float32)


def _contributions(features, grad, column_map_, reference):
  """Per-feature pieces of the explanation (see the module docstring) and whether they are
  signed: g_i (x_i - r_i) for the energy (`reference` r given), else the score norm's
  g_i^2, with a one-hot block's pieces kept on the record's own category only (all of them
  for an unseen category)."""
  flat = tf.reshape(tf.cast(features, tf.float32), tf.shape(grad))
  if reference is not None:
    return grad * (flat - reference), True
  squares = tf.square(grad)
  if column_map_ is None or not column_map_.onehot.any():
    return squares, False
  own = _own_category(flat, column_map_)
  membership = tf.constant(column_map_.membership)
  # A block with no category of the record on (an unseen value) keeps every piece.
  seen = tf.matmul(tf.cast(tf.matmul(own, membership) > 0, tf.float32), membership,
                   transpose_b=True) > 0
  keep = tf.where(tf.constant(column_map_.onehot) & seen, own, 1.0)
  return squares * keep, False


# The exported MALA targets, by signature. `sample` is the one measured best: with the
# N(0, I) latent prior chains stay where G was trained (25gaussians, 100 steps of alpha 0.01:
# high-quality share 0.517 -> 0.549 with it, -> 0.437 without; BUILD_NOTES "Latent MCMC").
# `sample_paper` keeps the paper's U = E(G(z)).
SAMPLE_SIGNATURE_PRIORS = {"sample": "gaussian", "sample_paper": "none"}


def build_sampler(model, source):
  """(tf.Module, {signature name: tf.function}): `generate(z)`, and `sample(z, steps, alpha)`
  / `sample_paper(z, steps, alpha)`: latent MALA on the targets of SAMPLE_SIGNATURE_PRIORS."""
  latent_dim = int(model.latent_dim)
  to_data = source.to_data_scale or _identity
  module = _ServingModule([model.generator, model.energy, to_data])
  z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")

  def generate(z):
    z = _checked(z, (latent_dim,), "z")
    return {"x": to_data(model.generator(z, training=False))}

  def latent_mala(prior):
    def sample(z, mcmc_steps, step_size):
      z = _checked(z, (latent_dim,), "z")
      mcmc_steps = _checked_scalar(mcmc_steps, "mcmc_steps", lambda n: n >= 0, ">= 0")
      step_size = _checked_scalar(step_size, "step_size",
                                  lambda a: tf.logical_and(a > 0, tf.math.is_finite(a)),
                                  "finite and > 0")
      result = mcmc.latent_mala(model.energy, model.generator, z, mcmc_steps, step_size,
                                prior=prior)
      return {"x": to_data(result.x), "z": result.z, "acceptance_rate": result.acceptance_rate}
    return tf.function(sample, input_signature=[
        z_spec, tf.TensorSpec([], tf.int32, name="mcmc_steps"),
        tf.TensorSpec([], tf.float32, name="step_size")])

  module.generate = tf.function(generate, input_signature=[z_spec])
  signatures = {"serving_default": module.generate, "generate": module.generate}
  for name, prior in SAMPLE_SIGNATURE_PRIORS.items():
    setattr(module, name, latent_mala(prior))
    signatures[name] = getattr(module, name)
  return module, signatures


def _raw_feature_spec(source):
  """{column: tf.DType} of a tabular source, or None; checks the column names."""
  if source.tabular is None:
    return None
  spec = {column: tf.as_dtype(dtype) for column, dtype in source.tabular.raw_feature_spec.items()}
  bad = [column for column in spec if not _COLUMN_NAME.match(column)]
  if bad:
    raise ValueError(f"raw column names {bad} cannot be signature input names: use letters, "
                     "digits, '_', '.' and '-' (rename them in the data set's loader)")
  return spec


def build_scorer(model, source, thresholds=None, feature_statistics=None):
  """(tf.Module, {signature name: tf.function}): `score`, and `anomaly` / `score_records`
  / `explain`.

  `thresholds` (AnomalyThresholds; None: not an anomaly model): its threshold is stored in
  the SavedModel as a variable, so the decision needs nothing outside it.
  `feature_statistics` (rundir.FeatureStatistics of the training rows in the model's space;
  `RunDir.load_feature_statistics`): the energy explanation's reference record
  (`explanation_reference`).
  """
  data_shape = tuple(int(d) for d in source.data_shape)
  from_data = source.from_data_scale or _identity
  raw_spec = _raw_feature_spec(source)
  preprocessing = source.tabular.model if raw_spec else None
  columns_of_features = column_map(preprocessing, raw_spec) if raw_spec else None
  module = _ServingModule([model.energy, from_data, preprocessing])
  x_spec = tf.TensorSpec([None, *data_shape], tf.float32, name="x")
  wall = getattr(model, "wall", None)  # engan_tf.support: a table's scoring energy
  out_of_range_margin = wall.margin if wall is not None else 0.0
  anomaly_threshold = None if thresholds is None else thresholds.threshold
  if thresholds is not None:
    score_name = thresholds.decision_function
    if score_name not in ANOMALY_SCORES:
      raise ValueError(f"the decision function must be one of {ANOMALY_SCORES}, got "
                       f"{score_name!r}")
    module.anomaly_threshold = tf.Variable(float(anomaly_threshold), trainable=False,
                                           dtype=tf.float32, name="anomaly_threshold")
  explained = thresholds.decision_function if thresholds is not None else "score_norm"
  n_features = int(np.prod(data_shape))
  reference = None
  if explained == "energy" and feature_statistics is not None:
    for name in ("medians", "means"):
      values = getattr(feature_statistics, name)
      if values is not None and np.size(values) != n_features:
        raise ValueError(f"feature {name} have {np.size(values)} values, the model takes "
                         f"{n_features} features: the model_dir's feature_medians.json does "
                         "not belong to this model")
    reference = explanation_reference(columns_of_features, feature_statistics.medians,
                                      feature_statistics.means)
    if reference is None:
      logging.warning("no feature means (a model_dir trained before they were saved): the "
                      "energy's column_shares use the score-norm pieces")
    else:
      reference = tf.constant(reference)
  elif explained == "energy":
    logging.warning("no feature medians (a model_dir trained before they were saved): the "
                    "energy's column_shares use the score-norm pieces")

  def explain_features(features, per_feature, names, undefined, energy_and_gradient=None):
    """column_shares/top_column of model-space `features`, per raw column or (per_feature)
    per feature; `energy_and_gradient`: (E, grad_x E) of `features` when the caller has
    them."""
    energy, grad = energy_and_gradient or _energy_and_gradient(model.energy, features)
    contributions, signed = _contributions(features, grad, columns_of_features, reference)
    per_column = contributions if per_feature else tf.matmul(
        contributions, tf.constant(columns_of_features.membership))
    if signed:
      per_column = tf.abs(per_column)
    flat = tf.reshape(features, [tf.shape(features)[0], -1])
    undefined = (undefined | tf.reduce_any(tf.logical_not(tf.math.is_finite(flat)), axis=1)
                 | tf.logical_not(tf.math.is_finite(energy)))
    return _shares(per_column, names, undefined)

  def score_features(features):
    energy, score_norm = _energy_and_score_norm(model.energy, features)
    return {"energy": energy, "score_norm": score_norm}

  def score(x):
    return score_features(from_data(_checked(x, data_shape, "x")))

  def decide(features, outputs):
    """Fail closed: a record with a non-finite feature or score is anomalous."""
    flat = tf.reshape(features, [tf.shape(features)[0], -1])
    nonfinite = tf.logical_or(
        tf.reduce_any(tf.logical_not(tf.math.is_finite(flat)), axis=1),
        tf.logical_not(tf.math.is_finite(outputs["energy"]) & tf.math.is_finite(
            outputs["score_norm"])))
    return {"is_anomaly": (outputs[score_name] > module.anomaly_threshold) | nonfinite,
            "nonfinite": nonfinite}

  module.score = tf.function(score, input_signature=[x_spec])
  signatures = {"serving_default": module.score, "score": module.score}

  if anomaly_threshold is not None:

    def anomaly(x):
      x = _checked(x, data_shape, "x")
      outputs = score(x)
      return {"score": outputs[score_name], **decide(x, outputs)}

    module.anomaly = tf.function(anomaly, input_signature=[x_spec])
    signatures["anomaly"] = module.anomaly

    feature_names = (columns_of_features.feature_names if raw_spec
                     else tuple(f"f{i}" for i in range(n_features)))

    def explain(x):
      features = from_data(_checked(x, data_shape, "x"))
      return explain_features(features, True, feature_names,
                              tf.zeros([tf.shape(features)[0]], tf.bool))

    module.explain = tf.function(explain, input_signature=[x_spec])
    signatures["explain"] = module.explain

  if raw_spec is not None:
    # One-hot layers of the categorical columns (engan_tf.data.tabular names them
    # "<column>_onehot"): an unseen value encodes as an all-zero block.
    one_hots = {column: preprocessing.get_layer(f"{column}_onehot")
                for column, dtype in raw_spec.items() if dtype == tf.string
                and f"{column}_onehot" in {layer.name for layer in preprocessing.layers}}

    def score_records(records):
      columns = list(raw_spec)
      # Training strips the spaces around categorical values (read_csv): so does serving.
      records = {column: tf.strings.strip(value) if raw_spec[column] == tf.string else value
                 for column, value in records.items()}
      checked = {columns[0]: _checked(records[columns[0]], (), columns[0])}
      batch = tf.raw_ops.Shape(input=checked[columns[0]])[0]
      for column in columns[1:]:
        value = _checked(records[column], (), column)
        same = tf.debugging.Assert(
            tf.equal(tf.raw_ops.Shape(input=value)[0], batch),
            [f"every raw column must hold the same number of records: '{columns[0]}' has",
             batch, f"'{column}' has", tf.raw_ops.Shape(input=value)[0]])
        with tf.control_dependencies([same]):
          checked[column] = tf.identity(value)
      features = tf.cast(preprocessing(checked), tf.float32)
      features = _checked(features, data_shape, "preprocessing(records)")
      # One gradient for the score norm and the explanation.
      energy, grad = _energy_and_gradient(model.energy, features)
      outputs = {"energy": energy, "score_norm": tf.reduce_sum(tf.square(grad), axis=1)}
      unseen = [tf.cast(tf.equal(tf.reduce_sum(layer(checked[column]), axis=1), 0), tf.int32)
                for column, layer in one_hots.items()]
      outputs["unseen_categories"] = (tf.add_n(unseen) if unseen
                                      else tf.zeros([batch], tf.int32))
      # One-hot features are 0 or 1: only numeric columns can lie beyond the range.
      outputs["out_of_range_columns"] = tf.reduce_sum(tf.cast(
          support.excess(features, out_of_range_margin) > 0, tf.int32), axis=1)
      if anomaly_threshold is not None:
        outputs.update(decide(features, outputs))
      outputs.update(explain_features(
          features, False, columns_of_features.columns,
          tf.logical_not(tf.math.is_finite(outputs["score_norm"])), (energy, grad)))
      return outputs

    module.score_records = tf.function(score_records, input_signature=[
        {column: tf.TensorSpec([None], dtype, name=column) for column, dtype in raw_spec.items()}])
    signatures["score_records"] = module.score_records
  return module, signatures


def _tensor_proto(value, dtype):
  return tf.make_tensor_proto(np.asarray(value), dtype=dtype)


def _predict_log(model_name, signature_name, inputs):
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  for key, (value, dtype) in inputs.items():
    request.inputs[key].CopyFrom(_tensor_proto(value, dtype))
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))


def warmup_requests(model, source, module_name, signatures, batch_sizes=(1, 8),
                    mcmc_steps=2, step_size=0.01):
  """PredictionLog records that call every signature once per batch size (TF Serving warm-up).

  Scorer inputs are generator samples in the data's scale, so warm-up runs on realistic data.
  """
  logs = []
  to_data = source.to_data_scale or _identity
  for batch in batch_sizes:
    z = tf.random.stateless_normal([batch, int(model.latent_dim)], [batch, 0])
    for name in signatures:
      if module_name == SAMPLER:
        inputs = {"z": (z.numpy(), tf.float32)}
        if name in SAMPLE_SIGNATURE_PRIORS:
          inputs.update(mcmc_steps=(mcmc_steps, tf.int32), step_size=(step_size, tf.float32))
      elif name == "score_records":
        inputs = _raw_warmup_inputs(source, batch)
      else:
        x = to_data(model.generator(z, training=False))
        inputs = {"x": (np.asarray(x, np.float32), tf.float32)}
      logs.append(_predict_log(module_name, name, inputs))
  return logs


def _raw_warmup_inputs(source, batch):
  inputs = {}
  for column, dtype in _raw_feature_spec(source).items():
    values = ["" if dtype == tf.string else 0] * batch
    inputs[column] = (np.array(values, dtype=object if dtype == tf.string else
                               dtype.as_numpy_dtype), dtype)
  return inputs


def _write_warmup(saved_model_dir, logs):
  path = os.path.join(saved_model_dir, WARMUP_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for log in logs:
      writer.write(log.SerializeToString())


def _write_sample_defaults(saved_model_dir, step_size):
  defaults = {"signature": "sample", "mcmc_steps": config_lib.SAMPLE_CHAIN_STEPS,
              "step_size": float(step_size)}
  with tf.io.gfile.GFile(os.path.join(saved_model_dir, SAMPLE_DEFAULTS_FILE), "w") as f:
    json.dump(defaults, f, indent=2)


def export_model(model, source, export_dir, version, thresholds=None,
                 feature_statistics=None, sampler_model=None,
                 sample_step_size=config_lib.TrainConfig.sample_step_size):
  """Writes export_dir/{sampler,scorer}/<version> from an in-memory model; returns the paths.

  `model` needs `energy`, `generator` and `latent_dim` (an `EnGAN`). Raises FileExistsError
  (and writes nothing) if either version directory exists. `feature_statistics`: see
  `build_scorer`. `sampler_model` (default `model`): the sampler's networks, e.g. the same
  weights in bfloat16 compute (`export(sampler_mixed_precision=True)`). `sample_step_size`:
  the `sample` signature's recommended alpha (the config's --sample_step_size), written with
  config.SAMPLE_CHAIN_STEPS to the sampler's SAMPLE_DEFAULTS_FILE.
  """
  version = int(version)
  if version < 1:
    raise ValueError(f"version must be a positive integer, got {version}")
  final = {name: os.path.join(export_dir, name, str(version)) for name in (SAMPLER, SCORER)}
  existing = [path for path in final.values() if tf.io.gfile.exists(path)]
  if existing:
    raise FileExistsError(
        f"{', '.join(existing)} already exist(s); exported versions are never overwritten. "
        "Pass another --version or --export_dir.")
  modules = {SAMPLER: build_sampler(sampler_model or model, source),
             SCORER: build_scorer(model, source, thresholds,
                                  feature_statistics)}  # (module, signatures)
  tmp = {name: os.path.join(export_dir, name, f".tmp-{version}-{uuid.uuid4().hex[:8]}")
         for name in final}
  try:
    for name, (module, signatures) in modules.items():
      tf.io.gfile.makedirs(os.path.dirname(tmp[name]))
      tf.saved_model.save(module, tmp[name], signatures=signatures)
      _write_warmup(tmp[name], warmup_requests(model, source, name, signatures,
                                               step_size=sample_step_size))
    _write_sample_defaults(tmp[SAMPLER], sample_step_size)
    for name in final:
      if tf.io.gfile.exists(final[name]):  # appeared meanwhile: another export raced us
        raise FileExistsError(f"{final[name]} appeared during the export; not overwriting it")
    renamed = []
    try:
      for name in final:
        tf.io.gfile.rename(tmp[name], final[name])
        renamed.append(name)
    except BaseException:
      # Both versions appear or neither does: move the ones already in place back.
      for name in renamed:
        tf.io.gfile.rename(final[name], tmp[name])
      raise
  finally:
    for path in tmp.values():
      if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)
  return final


def export(model_dir, export_dir, version=None, data_dir=None, anomaly_threshold=None,
           checkpoint="latest", decision_function=None, sampler_mixed_precision=False):
  """Exports a train.py model_dir; returns {"sampler": path, ...}.

  checkpoint: "latest" (the last checkpoint) or "selected" (the one --select_metric kept).
  decision_function: "score_norm" or "energy" for the exported `anomaly`/`is_anomaly`, with
  its own threshold from anomaly_threshold.json; None: the one the validation rows preferred
  (the file's `decision_function`).
  sampler_mixed_precision: the sampler's G and E in bfloat16 compute around the same
  float32 weights (training.restore(mixed_precision=True)); the scorer keeps the energy as
  trained, which its thresholds belong to.
  """
  from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  restored = training.restore(model_dir, data_dir=data_dir, checkpoint=checkpoint,
                              with_data=False)
  thresholds = restored.thresholds
  if thresholds is None and restored.source.kind in anomaly.SOURCE_KINDS:
    raise ValueError(
        f"{model_dir} is an anomaly model without anomaly_threshold.json (a run that "
        f"stopped before its end?): run `python evaluate.py --model_dir={model_dir}` to fit "
        f"it, or pass --anomaly_threshold")
  if decision_function is not None:
    if decision_function not in anomaly.DECISION_FUNCTIONS:
      raise ValueError(f"--decision_function must be one of {anomaly.DECISION_FUNCTIONS}, "
                       f"got {decision_function!r}")
    if thresholds is None:
      raise ValueError(f"{model_dir} is not an anomaly model: --decision_function does not "
                       "apply")
    if decision_function not in thresholds.thresholds and anomaly_threshold is None:
      raise ValueError(f"{model_dir}/anomaly_threshold.json has no threshold for "
                       f"{decision_function}: pass --anomaly_threshold as well")
    thresholds = dataclasses.replace(thresholds, decision_function=decision_function)
  if anomaly_threshold is not None:
    if restored.source.kind not in anomaly.SOURCE_KINDS:
      raise ValueError(f"{model_dir} is not an anomaly model: --anomaly_threshold does not apply")
    if thresholds is None:
      thresholds = rundir.AnomalyThresholds(step=restored.model.step, thresholds={})
    thresholds = dataclasses.replace(
        thresholds, thresholds={**thresholds.thresholds,
                                thresholds.decision_function: float(anomaly_threshold)})
  version = default_version(restored.model) if version is None else version
  sampler_model = None
  if sampler_mixed_precision:
    sampler_model = training.restore(model_dir, data_dir=data_dir, checkpoint=checkpoint,
                                     with_data=False, mixed_precision=True).model
  return export_model(restored.model, restored.source, export_dir, version, thresholds,
                      rundir.RunDir(model_dir).load_feature_statistics(), sampler_model,
                      restored.config.sample_step_size)
