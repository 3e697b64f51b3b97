r"""Anomaly-detection benchmark suite (issue 17, "Anomaly scores that generalize").

  PYTHONPATH=. python bench/anomaly_suite.py --detectors=iforest,ocsvm,lof,knn \
      --datasets=kdd99,kddrev,http,smtp,mnist,digits,wine,breast_cancer,kdd_lto \
      --seeds=0 --output=bench/results/anomaly_suite.json
  # engan-tf, once engan_tf.AnomalyDetector exists (arguments passed through as JSON):
  PYTHONPATH=. python bench/anomaly_suite.py --detectors=engan,knn --datasets=kdd99 \
      --engan_params='{"train_steps": 2000}'
  # the tables of earlier runs, together:
  python bench/anomaly_suite.py --from_json=a.json,b.json

One run on one core (seed 0, the four baselines): about 50 min for every data set but the
leave-type-out check (MNIST 35 min of it), about 25 min for the check; see
bench/results/anomaly_suite_baselines.md.

Every detector sees the same training rows and features of a data set and is scored on the
same test rows, so the columns of the table differ only by the detector.

What is measured (per data set, detector and seed)
--------------------------------------------------
A detector is fit on `x_train` (normal rows only) and returns a score, higher = more
anomalous. On the labelled test set (`y_test`, 1 = anomaly):

  * AUROC: P(score of a test anomaly > score of a test normal row) (+ half the ties);
    threshold-free.
  * AUPRC: average precision (scikit-learn's `average_precision_score`), anomaly = positive.
    Its chance level is the test anomaly share, which differs between data sets.
  * F1 at the anomaly share: the k highest test scores are flagged, k = the number of test
    anomalies (so precision = recall = F1). Rows tied at the k-th score are counted
    fractionally (the expectation over a random order of the tied block; the
    "fractional" rule of engan_tf.metrics.anomaly.at_share), so a score with large tied
    blocks (KDD99 has many identical records) is neither rewarded nor punished by the
    order of the ties. This is the KDD99 paper protocol's metric (top 20% flagged); note
    that it uses the test labels to choose k.
  * recall@val95 and false-alarm@val95: a decision that uses no test labels. The threshold
    t is the 95th percentile (numpy linear interpolation) of the scores of `x_val`, normal
    training rows held out from fitting; a row is flagged when score > t. recall = the
    share of test anomalies flagged, false alarm = the share of test normal rows flagged.
    When the test normal rows come from the same distribution as the training rows, the
    false-alarm rate should be close to 5%; much more means the score does not generalize
    from the training rows to new normal rows (e.g. it memorizes training rows: kNN, LOF).

Data sets (each a `AnomalyDataset` built by one function; splits are seed-fixed by
--split_seed, 42 as in the project, and the same for every --seeds value: the seeds vary
only the detectors' randomness and their training-row subsample)
------------------------------------------------------------------------------------------
  kdd99: the paper protocol exactly as engan_tf.data.kdd/tabular build it: 121 features
    (34 numeric columns + one-hot of protocol_type, service, flag, land, logged_in,
    is_host_login, is_guest_login, vocabularies from the whole file), 50/50 split (seed 42),
    training = the non-`normal.` rows of the training half, i.e. the attacks (80% of the
    file); the anomaly class is `normal.` traffic (the 20% minority); the test set is the
    whole other half (19.7% anomalies). x_val = 10% of the training rows
    (engan_tf.data.tabular.validation_split); min-max scaling fit on the remaining training
    rows.
  kddrev: the same features and split with the roles reversed (GOAD, NeuTraL-AD):
    `normal.` traffic of the training half trains, attacks are the anomalies; the test
    half keeps all its normal traffic and a seeded subsample of its attacks so that they are
    20% of the test set.
  http, smtp: the ODDS / scikit-learn `fetch_kddcup99(subset=...)` subsets built from the
    same 10% file: rows with logged_in = 1 and service == http (smtp); features
    log(x + 0.1) of duration, src_bytes, dst_bytes (no further scaling); attacks are the
    anomalies. 50% of the normal rows (seeded) train (10% of them held out as x_val); the
    test set is the other 50% of normal rows plus every attack row.
  mnist_<d> (d = 0..9): the paper's held-out digit protocol of engan_tf.data.mnist
    (all 70,000 images; normal = every digit but d, shuffled with seed 42; 80% of them
    train, the test set is the other 20% plus every image of d). Pixels flattened to 784
    values in [0, 1]. x_val = 10% of the training rows. OCSVM, LOF and kNN fit on a seeded
    subsample of at most 10,000 training rows (--mnist_max_train_rows): the full 50,000
    would take hours on one core.
  digits_<d>: scikit-learn's bundled 8x8 digits (1,797 images), the same held-out-digit
    protocol; pixels / 16.
  wine_<c>: scikit-learn's wine (178 rows, 13 features, 3 cultivars), cultivar c is the
    anomaly; 50% of the other rows train; min-max scaling fit on the training rows.
  breast_cancer: scikit-learn's breast cancer (569 rows, 30 features); malignant is the
    anomaly; 50% of the benign rows train; min-max fit on the training rows.
    On the small tables x_val has a handful of rows (wine: 6): the @val95 numbers there are
    coarse. engan's own threshold is fit on its own held-out share of x_train (wine: 10-12
    rows), too few for 5%: the report gives the rate it promises, 1/(n + 1), beside it.
  kdd_lto_paper_<type>, kdd_lto_all_<type>: the novelty check, see below.

KDD leave-type-out (novelty) check
----------------------------------
For each major attack type T of the 10% file (smurf, neptune, back, satan, ipsweep,
portsweep, warezclient, teardrop, pod, nmap) the detectors are refit without any row of T
and we ask how often the test rows of T, a kind of traffic never seen in training, are
flagged. Two training sets:

  * paper: the kdd99 protocol's training class (every attack type of the training half)
    minus T; `normal.` traffic is not trained on, as in the paper. In the paper's own
    labelling, T is "normal" class, so flagging T is a false flag there; as novelty
    detection it is a detection. Also reported: the flag rate of the test `normal.` traffic
    (the paper's anomalies; the extra set `normal_traffic`).
  * all: every record of the training half except those of T (normal traffic and all
    other attacks): can the detector tell that a new attack type is new?

Rows: x_train = those training-half rows (10% of them held out as x_val; min-max fit on
the rest, so nothing of T enters the preprocessing either, except the one-hot vocabulary,
which the project takes from the whole file); test set = the test-half rows of T
(y = 1) and a seeded subsample of at most --lto_max_test_rows seen-type test rows (y = 0).
The threshold is the 95th percentile of the x_val scores. Reported per T:
  flag rate of T = recall@val95 (the number to read), flag rate of seen-type test rows =
  false-alarm@val95 (about 5% if the detector generalizes to new rows of seen types),
  AUROC of T rows against seen-type rows (threshold-free), and (paper mode) the flag rate of
  `normal.` traffic. Types with few training rows (pod, nmap: a few hundred) are the
  interesting contrast to smurf/neptune, which dominate the training half.

Development split (`--development_split`)
-----------------------------------------
For choices: kdd99, kddrev and kdd_lto_* built from the training half alone, split again
50/50 the same way (engan_tf.data.tabular.split_halves): the second quarter plays the test
half, with its labelled rows the protocols leave out of training (kdd99's `normal.`
traffic, kddrev's attacks, the held-out type). No row of the test half is used. The other
sets put every anomalous row in their test set and have no such split.
bench/decision_rule_selection.py reads these records.

Detectors
---------
Common interface: `detector.fit(x_train) -> score_fn`, `score_fn(x) -> [n] float`, higher =
more anomalous. Test rows are scored once per distinct row (KDD99 repeats records; exact,
since every score here is a deterministic function of the row).
  iforest: sklearn IsolationForest (defaults, random_state=seed), score = -score_samples.
  ocsvm: sklearn OneClassSVM (defaults: rbf, nu=0.5, gamma='scale'), score =
    -score_samples; fit on a seeded subsample of at most --max_train_rows rows; scored
    through numpy matrix products on the fitted support vectors (same values, see
    `OcsvmDetector`).
  lof: sklearn LocalOutlierFactor(novelty=True, n_neighbors=20), score = -score_samples;
    at most --max_train_rows training rows.
  knn: mean Euclidean distance to the k=5 nearest training rows (sklearn NearestNeighbors,
    a duplicate of the query counts as distance 0); at most --max_train_rows training rows.
  engan: engan_tf.AnomalyDetector when the package has it (see `EnganDetector`); otherwise
    it is skipped with a printed note.

Results: a JSON file (--output; rewritten after every data set, so a partial run keeps
what it finished) and Markdown tables on stdout (and in --markdown when given).
"""

import dataclasses
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

from absl import app
from absl import flags
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

_DEFAULT_DATA_DIR = os.environ.get("ENGAN_TF_TEST_DATA") or os.path.join(
    os.path.dirname(ROOT), "shared", "data")

flags.DEFINE_list("detectors", ["iforest", "ocsvm", "lof", "knn", "engan"],
                  "Detectors to run (iforest, ocsvm, lof, knn, engan).")
flags.DEFINE_list("datasets", ["kdd99", "kddrev", "http", "smtp", "mnist", "digits", "wine",
                               "breast_cancer", "kdd_lto"],
                  "Data sets or groups: kdd99, kddrev, http, smtp, mnist (= mnist_0..9), "
                  "mnist_<d>, digits (= digits_0..9), digits_<d>, wine (= wine_0..2), "
                  "wine_<c>, breast_cancer, kdd_lto (= kdd_lto_paper + kdd_lto_all), "
                  "kdd_lto_paper, kdd_lto_all, kdd_lto_<mode>_<type>.")
flags.DEFINE_list("seeds", ["0"], "Detector seeds (random_state and training subsample).")
flags.DEFINE_integer("max_train_rows", 20_000,
                     "At most this many training rows (seeded subsample) for ocsvm, lof, knn.")
flags.DEFINE_integer("mnist_max_train_rows", 10_000,
                     "The same cap on MNIST (784 features), where 20,000 rows take too long.")
flags.DEFINE_integer("engan_max_train_rows", 0,
                     "At most this many training rows for engan (0: all).")
flags.DEFINE_integer("lto_max_test_rows", 20_000,
                     "Leave-type-out: at most this many seen-type (and normal-traffic) test rows.")
flags.DEFINE_bool("development_split", False,
                  "Build kdd99, kddrev and kdd_lto_* from the training half alone (split "
                  "again 50/50, engan_tf.data.tabular.split_halves): no test-half row is used. "
                  "For choices; the other sets have no such split.")
flags.DEFINE_float("val_share", 0.1, "Share of the normal training rows held out as x_val.")
flags.DEFINE_integer("split_seed", 42, "Seed of every data split (fixed across --seeds).")
flags.DEFINE_string("data_dir", _DEFAULT_DATA_DIR,
                    "Directory with kddcup99/ and mnist/ (the project's shared data layout).")
flags.DEFINE_string("output", "bench/results/anomaly_suite.json", "JSON results.")
flags.DEFINE_string("markdown", "", "Also write the Markdown tables here.")
flags.DEFINE_list("from_json", [],
                  "Run nothing: print the tables of these earlier --output files together "
                  "(e.g. seed 0 and seeds 1,2 run separately).")
flags.DEFINE_string("engan_params", "{}",
                    "JSON dict of keyword arguments for engan_tf.AnomalyDetector(...).")
flags.DEFINE_bool("engan_higher_is_normal", True,
                  "engan_tf.AnomalyDetector.score_samples follows scikit-learn (higher = more "
                  "normal) and the suite negates it; false: it is already an anomaly score.")
FLAGS = flags.FLAGS

BASELINES = ("iforest", "ocsvm", "lof", "knn")
KDD_LTO_TYPES = ("smurf", "neptune", "back", "satan", "ipsweep", "portsweep", "warezclient",
                 "teardrop", "pod", "nmap")
VAL_PERCENTILE = 95.0
MIX_REFERENCE_ROWS = 20_000  # training rows that standardise engan's mix (auroc_mix)


# ---------------------------------------------------------------------------- data sets


@dataclasses.dataclass
class AnomalyDataset:
  """One benchmark data set: normal training rows, held-out normal rows, a labelled test set.

  x_train: [n, d] float32 normal rows to fit on. x_val: [m, d] normal training rows held out
  from fitting (threshold selection). x_test, y_test: test rows and labels (1 = anomaly).
  extra_sets: further unlabelled test sets whose flag rate @val95 is reported (e.g. KDD
  `normal.` traffic in the leave-type-out check). max_train_rows: this data set's cap for
  the detectors that subsample (None: --max_train_rows only). group: the table it belongs
  to ("main" or "lto").
  """
  name: str
  x_train: np.ndarray
  x_val: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  notes: str = ""
  extra_sets: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  max_train_rows: Optional[int] = None
  group: str = "main"

  def describe(self):
    return (f"{self.name}: train {self.x_train.shape}, val {len(self.x_val)}, test "
            f"{len(self.x_test)} ({self.y_test.mean():.1%} anomalies)")


def minmax_fit_apply(x_train, *others):
  """Min-max scaling fit on x_train, as engan_tf.data.tabular (a constant column keeps scale 1)."""
  low, high = x_train.min(axis=0), x_train.max(axis=0)
  span = np.where(high > low, high - low, 1.0)
  return [((x - low) / span).astype(np.float32) for x in (x_train,) + others]


def carve_validation(train_rows, val_share, split_seed):
  """(train_rows, val_rows): engan_tf.data.tabular.validation_split (seed split_seed + 1)."""
  rows = np.random.RandomState(split_seed + 1).permutation(np.asarray(train_rows))
  n_val = int(round(len(rows) * val_share))
  return rows[n_val:], rows[:n_val]


@dataclasses.dataclass
class KddTable:
  """A parsed KDD99-format table: raw columns, labels and the unscaled 121-column features.

  features: the project's feature vector before min-max scaling (numeric columns in file
  order, then the one-hot blocks), for every row; each data set scales it on its own
  training rows.
  """
  columns: Dict[str, np.ndarray]
  labels: np.ndarray  # str, e.g. "normal.", "smurf."
  features: np.ndarray

  @property
  def is_normal_traffic(self):
    return self.labels == "normal."


def kdd_table_from_columns(schema, columns):
  """The KddTable of parsed columns, through the project's preprocessing (unscaled part)."""
  import keras  # pylint: disable=g-import-not-at-top
  from engan_tf.data import tabular  # pylint: disable=g-import-not-at-top
  n = len(columns[schema.columns[0]])
  prep = tabular.build_preprocessing(schema, columns, train_rows=np.arange(n))
  unscaled = keras.Model(prep.inputs, prep.get_layer("features").output)
  features = tabular.apply_preprocessing(unscaled, schema, columns)
  return KddTable(columns, np.asarray(columns[schema.label_column]).astype(str), features)


def load_kdd_table(data_dir):
  """The KDD Cup 99 10% file (494,021 rows), parsed by engan_tf.data.kdd."""
  from engan_tf.data import kdd  # pylint: disable=g-import-not-at-top
  schema, columns, _ = kdd.read(os.path.join(data_dir, "kddcup99"))
  return kdd_table_from_columns(schema, columns)


def _kdd_from_rows(name, table, train_rows, test_rows, y_test, val_share, split_seed, notes,
                   extra_rows=None):
  """A KDD data set from row indices: x_val carved from train_rows, min-max fit on the rest."""
  train_rows, val_rows = carve_validation(train_rows, val_share, split_seed)
  extra_rows = extra_rows or {}
  x_train, x_val, x_test, *extra = minmax_fit_apply(
      table.features[train_rows], table.features[val_rows], table.features[test_rows],
      *(table.features[r] for r in extra_rows.values()))
  return AnomalyDataset(name, x_train, x_val, x_test, np.asarray(y_test, np.int64), notes,
                        extra_sets=dict(zip(extra_rows, extra)))


def build_kdd99(table, split_seed=42, val_share=0.1, development=False):
  """The paper protocol (engan_tf.data.kdd): attacks train, `normal.` traffic is the anomaly."""
  from engan_tf.data import tabular  # pylint: disable=g-import-not-at-top
  is_anomaly = table.is_normal_traffic.astype(np.int64)
  train_rows, test_rows = tabular.anomaly_split(is_anomaly, split_seed, 0.2, development)
  return _kdd_from_rows("kdd99", table, train_rows, test_rows, is_anomaly[test_rows],
                        val_share, split_seed,
                        "paper protocol: trains on attacks, anomaly = normal. traffic")


def build_kddrev(table, split_seed=42, val_share=0.1, anomaly_share=0.2, development=False):
  """KDDRev: `normal.` traffic trains, attacks are the anomalies, 20% of the test set."""
  from engan_tf.data import tabular  # pylint: disable=g-import-not-at-top
  is_attack = (~table.is_normal_traffic).astype(np.int64)
  train_rows, test_rows = tabular.anomaly_split(is_attack, split_seed, anomaly_share,
                                                development)
  return _kdd_from_rows("kddrev", table, train_rows, test_rows, is_attack[test_rows],
                        val_share, split_seed,
                        f"normal traffic trains; test attacks subsampled to {anomaly_share:.0%}")


def odds_features(columns):
  """log(x + 0.1) of duration, src_bytes, dst_bytes (ODDS / sklearn fetch_kddcup99)."""
  return np.log(np.stack([np.asarray(columns[c], np.float64) + 0.1
                          for c in ("duration", "src_bytes", "dst_bytes")], 1)).astype(np.float32)


def build_odds_service(columns, service, split_seed=42, val_share=0.1, train_share=0.5):
  """ODDS `http` / `smtp`: logged_in = 1 rows of one service, 3 log features; attacks anomalous.

  `columns`: raw KDD99 columns (service and label as str; logged_in numeric or "0"/"1").
  Training: train_share of the normal rows (seeded); test: the other normal rows + every
  attack row.
  """
  service_col = np.asarray(columns["service"]).astype(str)
  logged_in = np.asarray(columns["logged_in"]).astype(float) == 1
  rows = np.flatnonzero((service_col == service) & logged_in)
  x = odds_features({c: np.asarray(columns[c])[rows]
                     for c in ("duration", "src_bytes", "dst_bytes")})
  is_attack = np.asarray(columns["label"]).astype(str)[rows] != "normal."
  normal = np.flatnonzero(~is_attack)
  normal = normal[np.random.RandomState(split_seed).permutation(len(normal))]
  n_train = int(train_share * len(normal))
  train, val = carve_validation(normal[:n_train], val_share, split_seed)
  test = np.concatenate([normal[n_train:], np.flatnonzero(is_attack)])
  return AnomalyDataset(service, x[train], x[val], x[test], is_attack[test].astype(np.int64),
                        f"logged_in=1 & service={service}; log(x+0.1) of 3 columns")


def held_out_class(name, x, labels, anomaly_class, split_seed=42, val_share=0.1,
                   train_fraction=0.8, scale="none", notes="", max_train_rows=None):
  """The held-out-class protocol (engan_tf.data.mnist.held_out_digit_split).

  normal = every class but anomaly_class, shuffled with split_seed; train_fraction of it
  trains (less x_val); the test set is the other normal rows plus every anomalous row.
  scale: "none" (x as given) or "minmax" (fit on the training rows).
  """
  from engan_tf.data import mnist  # pylint: disable=g-import-not-at-top
  train_rows, test, y = mnist.held_out_digit_split(labels, anomaly_class, split_seed,
                                                   train_fraction)
  train, val = carve_validation(train_rows, val_share, split_seed)
  x = np.asarray(x, np.float32)
  parts = [x[train], x[val], x[test]]
  if scale == "minmax":
    parts = minmax_fit_apply(*parts)
  return AnomalyDataset(name, *parts, y, notes, max_train_rows=max_train_rows)


def build_mnist(images, labels, digit, split_seed=42, val_share=0.1, max_train_rows=10_000):
  """mnist_<digit>: the paper's held-out digit protocol, pixels flattened in [0, 1]."""
  x = images.reshape(len(images), -1).astype(np.float32) / 255.0
  return held_out_class(f"mnist_{digit}", x, labels, digit, split_seed, val_share, 0.8,
                        notes=f"ocsvm/lof/knn on <= {max_train_rows} training rows",
                        max_train_rows=max_train_rows)


def load_mnist(data_dir):
  """All 70,000 MNIST images (uint8 [70000, 28, 28]) and labels, via engan_tf.data.mnist."""
  from engan_tf.data import mnist  # pylint: disable=g-import-not-at-top
  train_x, train_y, test_x, test_y = mnist.load_mnist_arrays(data_dir)
  return np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y])


def build_sklearn_table(name, anomaly_class=None, split_seed=42, val_share=0.1):
  """digits_<d>, wine_<c>, breast_cancer from scikit-learn's bundled (offline) data sets."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  if name == "digits":
    d = datasets.load_digits()
    return held_out_class(f"digits_{anomaly_class}", d.data / 16.0, d.target, anomaly_class,
                          split_seed, val_share, 0.8, notes="8x8 pixels / 16")
  if name == "wine":
    d = datasets.load_wine()
    return held_out_class(f"wine_{anomaly_class}", d.data, d.target, anomaly_class, split_seed,
                          val_share, 0.5, scale="minmax", notes="min-max on train rows")
  if name == "breast_cancer":
    d = datasets.load_breast_cancer()  # target 0 = malignant, 1 = benign
    return held_out_class("breast_cancer", d.data, d.target, 0, split_seed, val_share, 0.5,
                          scale="minmax", notes="malignant = anomaly; min-max on train rows")
  raise ValueError(name)


def build_kdd_leave_type_out(table, held_out, mode="paper", split_seed=42, val_share=0.1,
                             max_test_rows=20_000, development=False):
  """kdd_lto_<mode>_<type>: refit without `held_out` (e.g. "smurf"); see the module docstring."""
  from engan_tf.data import tabular  # pylint: disable=g-import-not-at-top
  if mode not in ("paper", "all"):
    raise ValueError(f"mode must be paper or all, got {mode!r}")
  label = held_out if held_out.endswith(".") else held_out + "."
  # The project's 50/50 split (the same halves as kdd99 and kddrev).
  train_half, test_half = tabular.split_halves(len(table.labels), split_seed, development)
  is_type = table.labels == label
  if not is_type.any():
    raise ValueError(f"no {label!r} rows in the table")
  trains = ~is_type & (~table.is_normal_traffic if mode == "paper" else True)
  train_rows = train_half[trains[train_half]]
  rng = np.random.RandomState(split_seed + 2)
  novel = test_half[is_type[test_half]]
  seen = test_half[trains[test_half]]
  seen = np.sort(rng.permutation(seen)[:max_test_rows])
  test_rows = np.concatenate([novel, seen])
  y = np.concatenate([np.ones(len(novel), np.int64), np.zeros(len(seen), np.int64)])
  extra_rows = {}
  if mode == "paper":  # the paper's anomalies: is normal traffic flagged without T?
    normal_rows = test_half[table.is_normal_traffic[test_half]]
    extra_rows["normal_traffic"] = np.sort(rng.permutation(normal_rows)[:max_test_rows])
  name = f"kdd_lto_{mode}_{held_out.rstrip('.')}"
  ds = _kdd_from_rows(
      name, table, train_rows, test_rows, y, val_share, split_seed,
      f"{int(is_type[train_half].sum())} training-half rows of {label} left out; "
      f"test {len(novel)} {label} vs {len(seen)} seen", extra_rows)
  ds.group = "lto"
  return ds


# ---------------------------------------------------------------------------- detectors


def _subsample(x, cap, seed):
  if not cap or len(x) <= cap:
    return x
  rows = np.sort(np.random.RandomState(seed).choice(len(x), cap, replace=False))
  return x[rows]


class SklearnDetector:
  """An sklearn outlier detector: fit on (a capped subsample of) x_train, score = -score_samples."""

  def __init__(self, name, make, seed=0, max_train_rows=None):
    self.name, self.make, self.seed, self.max_train_rows = name, make, seed, max_train_rows
    self.n_train_used = None

  def fit(self, x_train) -> Callable[[np.ndarray], np.ndarray]:
    x = _subsample(x_train, self.max_train_rows, self.seed)
    self.n_train_used = len(x)
    model = self.make(self.seed).fit(x)
    return lambda q: -model.score_samples(q)


class OcsvmDetector:
  """sklearn OneClassSVM (rbf, nu=0.5, gamma='scale'), score = -score_samples.

  Fit by libsvm as usual (cache_size 1000 MB instead of 200 MB: faster, the same solution).
  Scoring evaluates the fitted function itself, score_samples(x) = sum_i a_i
  exp(-gamma ||sv_i - x||^2) over the support vectors, in numpy (matrix products) instead
  of libsvm's row-by-row loop: the same values (tested against score_samples) and about
  20x faster with the ~10,000 support vectors that nu = 0.5 gives on 20,000 rows.
  """

  name = "ocsvm"

  def __init__(self, seed=0, max_train_rows=None):
    self.seed, self.max_train_rows = seed, max_train_rows
    self.n_train_used = None
    self.model = None

  def fit(self, x_train):
    from sklearn.svm import OneClassSVM  # pylint: disable=g-import-not-at-top
    x = _subsample(x_train, self.max_train_rows, self.seed)
    self.n_train_used = len(x)
    self.model = model = OneClassSVM(gamma="scale", cache_size=1000).fit(x)
    sv = np.asarray(model.support_vectors_, np.float64)
    coef = np.asarray(model.dual_coef_, np.float64).ravel()
    gamma = float(model._gamma)  # pylint: disable=protected-access
    sv_sq = np.einsum("ij,ij->i", sv, sv)

    def score(q, batch=2048):
      out = []
      for i in range(0, len(q), batch):
        b = np.asarray(q[i:i + batch], np.float64)
        d = np.einsum("ij,ij->i", b, b)[:, None] - 2.0 * (b @ sv.T) + sv_sq[None]
        out.append(np.exp(-gamma * np.maximum(d, 0.0)) @ coef)
      return -np.concatenate(out)

    return score


class KnnDetector:
  """Mean Euclidean distance to the k nearest training rows (sklearn NearestNeighbors)."""

  name = "knn"

  def __init__(self, k=5, seed=0, max_train_rows=None):
    self.k, self.seed, self.max_train_rows = k, seed, max_train_rows
    self.n_train_used = None

  def fit(self, x_train):
    from sklearn.neighbors import NearestNeighbors  # pylint: disable=g-import-not-at-top
    x = _subsample(x_train, self.max_train_rows, self.seed)
    self.n_train_used = len(x)
    index = NearestNeighbors(n_neighbors=self.k).fit(x)
    return lambda q: index.kneighbors(q)[0].mean(axis=1)


class EnganDetector:
  """engan-tf through its scikit-learn-style estimator `engan_tf.AnomalyDetector`.

  The calls (the contract the suite expects):
    det = engan_tf.AnomalyDetector(**params)   # params = --engan_params (JSON), plus
        # random_state=seed (or seed=seed) and model_dir=<a fresh temp dir> when the
        # constructor accepts those names
    det.fit(x_train)                           # x_train: float32 [n, d], normal rows only
    s = det.score_samples(x)                   # float [n]; scikit-learn sign: higher = more
                                               # normal (--engan_higher_is_normal=false if not)
  The suite's score is -s (or s). x is always 2-D: MNIST arrives as 784 pixels in [0, 1].
  """

  name = "engan"

  def __init__(self, seed=0, max_train_rows=None, params=None, higher_is_normal=True):
    self.seed, self.max_train_rows = seed, max_train_rows
    self.params = dict(params or {})
    self.higher_is_normal = higher_is_normal
    self.n_train_used = None
    self.x_fit = None
    self.model = None
    self._tmp = None

  @staticmethod
  def available():
    import engan_tf  # pylint: disable=g-import-not-at-top
    return hasattr(engan_tf, "AnomalyDetector")

  def fit(self, x_train):
    import engan_tf  # pylint: disable=g-import-not-at-top
    cls = engan_tf.AnomalyDetector
    params = dict(self.params)
    accepted = inspect.signature(cls).parameters
    for key in ("random_state", "seed"):
      if key in accepted and key not in params:
        params[key] = self.seed
        break
    if "model_dir" in accepted and "model_dir" not in params:
      self._tmp = tempfile.TemporaryDirectory(prefix="engan_suite_")
      params["model_dir"] = self._tmp.name
    x = _subsample(x_train, self.max_train_rows, self.seed)
    self.n_train_used = len(x)
    self.x_fit = x  # the rows it was fit on (the suite's mix standardises on them)
    model = cls(**params)
    model.fit(x)
    self.model = model  # the fitted estimator (bench/recipe_selection.py reads both scores)
    sign = -1.0 if self.higher_is_normal else 1.0
    return lambda q: sign * np.asarray(model.score_samples(q), np.float64).ravel()


def make_detector(name, seed, max_train_rows):
  """A fresh detector by name; max_train_rows caps ocsvm, lof, knn (None: no cap)."""
  from sklearn.ensemble import IsolationForest  # pylint: disable=g-import-not-at-top
  from sklearn.neighbors import LocalOutlierFactor  # pylint: disable=g-import-not-at-top
  if name == "iforest":
    return SklearnDetector(name, lambda s: IsolationForest(random_state=s), seed)
  if name == "ocsvm":
    return OcsvmDetector(seed, max_train_rows)
  if name == "lof":
    return SklearnDetector(name, lambda s: LocalOutlierFactor(novelty=True), seed,
                           max_train_rows)
  if name == "knn":
    return KnnDetector(5, seed, max_train_rows)
  if name == "engan":
    return EnganDetector(seed, FLAGS.engan_max_train_rows or None,
                         json.loads(FLAGS.engan_params), FLAGS.engan_higher_is_normal)
  raise ValueError(f"unknown detector {name!r}")


# ---------------------------------------------------------------------------- metrics


def score_distinct(score_fn, x, batch=50_000):
  """score_fn on each distinct row of x once, broadcast back (exact for row-wise scores)."""
  unique, inverse = np.unique(x, axis=0, return_inverse=True)
  out = np.concatenate([np.asarray(score_fn(unique[i:i + batch]), np.float64).ravel()
                        for i in range(0, len(unique), batch)])
  return out[np.asarray(inverse).ravel()]


def f1_at_anomaly_share(y, scores):
  """F1 (= precision = recall) with the top k scores flagged, k = #anomalies; ties fractional."""
  y = np.asarray(y).astype(np.int64)
  k = int(y.sum())
  order = np.sort(scores)[::-1]
  t = order[k - 1]
  above, tied = scores > t, scores == t
  fraction = (k - above.sum()) / tied.sum()
  tp = y[above].sum() + fraction * y[tied].sum()
  return float(tp / k)


def evaluate_scores(y, scores, val_scores):
  """AUROC, AUPRC, F1 at the anomaly share, and recall / false alarm @ val 95th percentile."""
  from sklearn import metrics  # pylint: disable=g-import-not-at-top
  y = np.asarray(y).astype(np.int64)
  if not 0 < y.sum() < len(y):
    raise ValueError(f"the test set needs anomalies and normal rows ({y.sum()} of {len(y)})")
  if not np.all(np.isfinite(scores)):
    raise ValueError(f"{np.sum(~np.isfinite(scores))} scores are not finite")
  threshold = float(np.percentile(val_scores, VAL_PERCENTILE))
  flagged = scores > threshold
  return {
      "auroc": float(metrics.roc_auc_score(y, scores)),
      "auprc": float(metrics.average_precision_score(y, scores)),
      "f1": f1_at_anomaly_share(y, scores),
      "val95_threshold": threshold,
      "recall_val95": float(flagged[y == 1].mean()),
      "false_alarm_val95": float(flagged[y == 0].mean()),
      "val_flagged_val95": float(np.mean(val_scores > threshold)),
      "test_anomaly_share": float(y.mean()),
  }


def _rescored(model, ds):
  """evaluate_scores of a fitted engan AnomalyDetector's score_samples as it is now set."""
  return evaluate_scores(ds.y_test, -score_distinct(model.score_samples, ds.x_test),
                         -score_distinct(model.score_samples, ds.x_val))


def _without_support_wall(model, ds):
  """AUROC, AUPRC and F1 of the same engan fit scored without its support wall
  (engan_tf.support): what the wall changed, from one fit."""
  walled = model._energy  # pylint: disable=protected-access
  model._energy = walled.energy  # pylint: disable=protected-access
  try:
    plain = _rescored(model, ds)
  finally:
    model._energy = walled  # pylint: disable=protected-access
  return {f"{key}_no_wall": plain[key] for key in ("auroc", "auprc", "f1")}


def _per_decision_function(model, ds, fit_rows):
  """The AUROC of each engan decision function of the same fit, which one it chose, and of
  their mix (`auroc_mix`): the mean of the energy and the log score norm, each standardised
  by its median and IQR on (up to MIX_REFERENCE_ROWS of) the fit's own training rows."""
  import selection_common  # pylint: disable=g-import-not-at-top
  chosen = model.decision_function_
  out = {"decision_function": chosen}
  reference = _subsample(fit_rows, MIX_REFERENCE_ROWS, 0)
  standardised = []
  try:
    for name in ("energy", "score_norm"):
      model.decision_function_ = name
      test = -score_distinct(model.score_samples, ds.x_test)  # higher = more anomalous
      out[f"auroc_{name}"] = selection_common.auroc(test[ds.y_test == 0], test[ds.y_test == 1])
      standardise = selection_common.standardiser(-model.score_samples(reference),
                                                  log=name == "score_norm")
      standardised.append(standardise(test))
  finally:
    model.decision_function_ = chosen
  mix = np.mean(standardised, axis=0)
  out["auroc_mix"] = selection_common.auroc(mix[ds.y_test == 0], mix[ds.y_test == 1])
  return out


def run_detector(ds: AnomalyDataset, name, seed, max_train_rows):
  """Fits one detector on ds.x_train and evaluates it; a dict of metrics and timings."""
  cap = max_train_rows
  if ds.max_train_rows:
    cap = min(cap, ds.max_train_rows) if cap else ds.max_train_rows
  detector = make_detector(name, seed, cap)
  start = time.perf_counter()
  score_fn = detector.fit(ds.x_train)
  fit_s = time.perf_counter() - start
  start = time.perf_counter()
  scores = score_distinct(score_fn, ds.x_test)
  val_scores = score_distinct(score_fn, ds.x_val)
  result = evaluate_scores(ds.y_test, scores, val_scores)
  threshold = result["val95_threshold"]
  if getattr(detector, "model", None) is not None and hasattr(detector.model, "predict"):
    # The detector's own decision (engan: the exported is_anomaly, its threshold fit on
    # its own held-out rows at --false_alarm_rate), not the suite's x_val threshold.
    flagged = np.concatenate([detector.model.predict(ds.x_test[i:i + 50_000]) == -1
                              for i in range(0, len(ds.x_test), 50_000)])
    result["is_anomaly_recall"] = float(flagged[ds.y_test == 1].mean())
    result["is_anomaly_false_alarm"] = float(flagged[ds.y_test == 0].mean())
    if getattr(detector.model, "model_dir_", None):  # engan: what its threshold can promise
      from engan_tf import rundir  # pylint: disable=g-import-not-at-top
      thresholds = rundir.RunDir(detector.model.model_dir_).load_thresholds()
      if thresholds is not None and thresholds.promised_false_alarm_rate is not None:
        result["is_anomaly_promised_false_alarm"] = thresholds.promised_false_alarm_rate
        result["is_anomaly_held_out_rows"] = thresholds.held_out_rows
  if getattr(getattr(detector, "model", None), "support_wall_", None) is not None:
    result.update(_without_support_wall(detector.model, ds))
  if hasattr(getattr(detector, "model", None), "decision_function_"):
    result.update(_per_decision_function(detector.model, ds, detector.x_fit))
  for key, x in ds.extra_sets.items():
    result[f"flag_rate_val95_{key}"] = float(np.mean(score_distinct(score_fn, x) > threshold))
  result.update(dataset=ds.name, group=ds.group, detector=name, seed=seed,
                n_train=len(ds.x_train), n_train_used=detector.n_train_used,
                n_val=len(ds.x_val), n_test=len(ds.x_test), fit_s=round(fit_s, 2),
                score_s=round(time.perf_counter() - start, 2))
  return result


# ---------------------------------------------------------------------------- driver


def expand_datasets(names):
  """Flag values -> concrete data set names, in order."""
  out = []
  for n in names:
    n = n.strip()
    if n == "mnist":
      out += [f"mnist_{d}" for d in range(10)]
    elif n == "digits":
      out += [f"digits_{d}" for d in range(10)]
    elif n == "wine":
      out += [f"wine_{c}" for c in range(3)]
    elif n == "kdd_lto":
      out += [f"kdd_lto_{m}_{t}" for m in ("paper", "all") for t in KDD_LTO_TYPES]
    elif n in ("kdd_lto_paper", "kdd_lto_all"):
      out += [f"{n}_{t}" for t in KDD_LTO_TYPES]
    elif n:
      out.append(n)
  return list(dict.fromkeys(out))


class DatasetFactory:
  """Builds data sets by name, parsing the KDD file and MNIST once."""

  def __init__(self, data_dir, split_seed, val_share, lto_max_test_rows, mnist_cap,
               development=False):
    self.data_dir, self.split_seed, self.val_share = data_dir, split_seed, val_share
    self.lto_max_test_rows, self.mnist_cap = lto_max_test_rows, mnist_cap
    self.development = development
    self._kdd = self._mnist = None

  def kdd(self):
    if self._kdd is None:
      start = time.perf_counter()
      self._kdd = load_kdd_table(self.data_dir)
      print(f"[suite] KDD99 parsed and featurized in {time.perf_counter() - start:.0f} s",
            flush=True)
    return self._kdd

  def build(self, name) -> AnomalyDataset:
    s, v, dev = self.split_seed, self.val_share, self.development
    if name == "kdd99":
      return build_kdd99(self.kdd(), s, v, dev)
    if name == "kddrev":
      return build_kddrev(self.kdd(), s, v, development=dev)
    if dev and not name.startswith("kdd_lto_"):
      # The other sets put every anomalous row in their test set: none is left to carve.
      raise ValueError(f"{name} has no development split (only kdd99, kddrev, kdd_lto_*)")
    if name in ("http", "smtp"):
      return build_odds_service(self.kdd().columns, name, s, v)
    if name.startswith("kdd_lto_"):
      _, _, mode, held_out = name.split("_", 3)
      return build_kdd_leave_type_out(self.kdd(), held_out, mode, s, v, self.lto_max_test_rows,
                                      dev)
    if name.startswith("mnist_"):
      if self._mnist is None:
        self._mnist = load_mnist(os.path.join(self.data_dir, "mnist"))
      return build_mnist(*self._mnist, int(name.split("_")[1]), s, v, self.mnist_cap)
    for base in ("digits", "wine"):
      if name.startswith(base + "_"):
        return build_sklearn_table(base, int(name.split("_")[1]), s, v)
    if name == "breast_cancer":
      return build_sklearn_table(name, None, s, v)
    raise ValueError(f"unknown data set {name!r}")


def _mean(values):
  values = [v for v in values if v is not None]
  return float(np.mean(values)) if values else float("nan")


def aggregate(results):
  """{(dataset, detector): {metric: (mean, std, n)}} over seeds."""
  groups = {}
  for r in results:
    groups.setdefault((r["dataset"], r["detector"]), []).append(r)
  out = {}
  for key, rows in groups.items():
    metrics_ = {}
    for m in rows[0]:
      if isinstance(rows[0][m], float) or m in ("fit_s", "score_s"):
        vals = np.array([row[m] for row in rows], float)
        metrics_[m] = (float(vals.mean()), float(vals.std()), len(vals))
    out[key] = metrics_
  return out


def markdown_tables(results):
  """The Markdown report: main table (AUROC / AUPRC / F1), @val95 table, leave-type-out table."""
  agg = aggregate(results)
  detectors = list(dict.fromkeys(r["detector"] for r in results))
  main = list(dict.fromkeys(r["dataset"] for r in results if r["group"] == "main"))
  lto = list(dict.fromkeys(r["dataset"] for r in results if r["group"] == "lto"))
  seeds = sorted({r["seed"] for r in results})
  lines = []

  def cell(ds, det, keys, fmt="{:.3f}"):
    m = agg.get((ds, det))
    if not m:
      return "-"
    parts = []
    for k in keys:
      mean, std, n = m[k]
      parts.append(fmt.format(mean) + (f"±{std:.3f}" if n > 1 and std > 0.0005 else ""))
    return " / ".join(parts)

  if main:
    lines += [f"AUROC / AUPRC / F1 at the anomaly share (mean over seeds {seeds}; ± = std "
              f"across seeds when nonzero)", "",
              "| data set | test anomalies | " + " | ".join(detectors) + " |",
              "|---|---|" + "---|" * len(detectors)]
    seeds_of = {ds: sorted({r["seed"] for r in results if r["dataset"] == ds}) for ds in main}
    uneven = len({tuple(v) for v in seeds_of.values()}) > 1
    for ds in main:
      share = next(r["test_anomaly_share"] for r in results if r["dataset"] == ds)
      label = f"{ds} (seeds {','.join(map(str, seeds_of[ds]))})" if uneven else ds
      lines.append(f"| {label} | {share:.1%} | " +
                   " | ".join(cell(ds, d, ("auroc", "auprc", "f1")) for d in detectors) + " |")
    lines.append("| **mean AUROC** | | " + " | ".join(
        f"**{_mean([agg[(ds, d)]['auroc'][0] for ds in main if (ds, d) in agg]):.3f}**"
        for d in detectors) + " |")
    lines.append("| mean AUPRC | | " + " | ".join(
        f"{_mean([agg[(ds, d)]['auprc'][0] for ds in main if (ds, d) in agg]):.3f}"
        for d in detectors) + " |")
    lines.append("| mean F1 | | " + " | ".join(
        f"{_mean([agg[(ds, d)]['f1'][0] for ds in main if (ds, d) in agg]):.3f}"
        for d in detectors) + " |")
    families = {}
    for ds in main:
      base, _, suffix = ds.rpartition("_")
      families.setdefault(base if base and suffix.isdigit() else ds, []).append(ds)
    if any(len(v) > 1 for v in families.values()):
      lines += ["", "Mean AUROC per data-set family (held-out classes averaged)", "",
                "| family | data sets | " + " | ".join(detectors) + " |",
                "|---|---|" + "---|" * len(detectors)]
      for fam, members in families.items():
        lines.append(f"| {fam} | {len(members)} | " + " | ".join(
            f"{_mean([agg[(ds, d)]['auroc'][0] for ds in members if (ds, d) in agg]):.3f}"
            for d in detectors) + " |")
      lines.append(f"| **mean over families** | {len(families)} | " + " | ".join(
          "**{:.3f}**".format(_mean([_mean([agg[(ds, d)]["auroc"][0] for ds in members
                                             if (ds, d) in agg])
                                      for members in families.values()]))
          for d in detectors) + " |")
    lines += ["", "Threshold at the 95th percentile of x_val (held-out normal training rows): "
              "recall / false-alarm rate on the test set (false alarms should be ~5%)", "",
              "| data set | " + " | ".join(detectors) + " |", "|---|" + "---|" * len(detectors)]
    for ds in main:
      lines.append(f"| {ds} | " + " | ".join(
          cell(ds, d, ("recall_val95", "false_alarm_val95"), "{:.3f}") for d in detectors) +
                   " |")
    lines.append("| mean | " + " | ".join(
        f"{_mean([agg[(ds, d)]['recall_val95'][0] for ds in main if (ds, d) in agg]):.3f} / "
        f"{_mean([agg[(ds, d)]['false_alarm_val95'][0] for ds in main if (ds, d) in agg]):.3f}"
        for d in detectors) + " |")
    own = [d for d in detectors if any("is_anomaly_recall" in agg.get((ds, d), {})
                                        for ds in main)]
    if own:
      lines += ["", "The detector's own decision (engan: `predict`, the exported is_anomaly, "
                "threshold at a 5% false-alarm rate of its own held-out rows): recall / "
                "false-alarm rate on the test set (promised: the rate its threshold can "
                "hold with the rows it was fit on, 1/(n + 1) below 19 rows)", "",
                "| data set | " + " | ".join(own) + " |", "|---|" + "---|" * len(own)]
      for ds in main:
        lines.append(f"| {ds} | " + " | ".join(
            cell(ds, d, ("is_anomaly_recall", "is_anomaly_false_alarm")) +
            (f" (promised {agg[(ds, d)]['is_anomaly_promised_false_alarm'][0]:.3f})"
             if "is_anomaly_promised_false_alarm" in agg.get((ds, d), {}) else "")
            for d in own) + " |")
      lines.append("| mean | " + " | ".join(
          f"{_mean([agg[(ds, d)]['is_anomaly_recall'][0] for ds in main if (ds, d) in agg]):.3f}"
          f" / {_mean([agg[(ds, d)]['is_anomaly_false_alarm'][0] for ds in main if (ds, d) in agg]):.3f}"
          for d in own) + " |")
    lines += ["", "Run time per data set, fit + score seconds (mean over seeds)", "",
              "| data set | train rows (used) | " + " | ".join(detectors) + " |",
              "|---|---|" + "---|" * len(detectors)]
    for ds in main:
      used = {r["detector"]: r["n_train_used"] for r in results if r["dataset"] == ds}
      n_train = next(r["n_train"] for r in results if r["dataset"] == ds)
      capped = sorted({u for u in used.values() if u and u < n_train})
      lines.append(f"| {ds} | {n_train}" + (f" ({', '.join(map(str, capped))})" if capped
                                             else "") + " | " + " | ".join(
          (f"{agg[(ds, d)]['fit_s'][0]:.1f} + {agg[(ds, d)]['score_s'][0]:.1f}"
           if (ds, d) in agg else "-") for d in detectors) + " |")
  if lto:
    lines += ["", "KDD leave-type-out: flag rate of the held-out type's test rows / flag rate "
              "of seen-type test rows (threshold = 95th percentile of x_val) / AUROC held-out "
              "vs seen" + ("; [flag rate of normal. traffic] in paper mode" if any(
                  "flag_rate_val95_normal_traffic" in r for r in results) else ""), "",
              "| held out | " + " | ".join(detectors) + " |", "|---|" + "---|" * len(detectors)]
    for ds in lto:
      cells = []
      for d in detectors:
        c = cell(ds, d, ("recall_val95", "false_alarm_val95", "auroc"))
        m = agg.get((ds, d), {})
        if "flag_rate_val95_normal_traffic" in m:
          c += f" [{m['flag_rate_val95_normal_traffic'][0]:.3f}]"
        cells.append(c)
      lines.append(f"| {ds} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def cpu_model():
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    return next((l.split(":", 1)[1].strip() for l in out.splitlines()
                 if l.startswith("Model name")), platform.processor())
  except OSError:
    return platform.processor()


def report_from_json(paths):
  """The Markdown tables of the results in earlier --output files.

  A (data set, detector, seed) present in several files is taken from the last of them.
  """
  results = {}
  for path in paths:
    with open(path) as f:
      for r in json.load(f)["results"]:
        results[(r["dataset"], r["detector"], r["seed"])] = r
  return markdown_tables(list(results.values()))


def main(argv):
  del argv
  if FLAGS.from_json:
    table = report_from_json(FLAGS.from_json)
    print(table)
    if FLAGS.markdown:
      with open(FLAGS.markdown, "w") as f:
        f.write(table + "\n")
    return
  detectors = [d.strip() for d in FLAGS.detectors if d.strip()]
  if "engan" in detectors and not EnganDetector.available():
    print("[suite] note: engan_tf has no AnomalyDetector yet; skipping the engan detector",
          flush=True)
    detectors.remove("engan")
  seeds = [int(s) for s in FLAGS.seeds]
  factory = DatasetFactory(FLAGS.data_dir, FLAGS.split_seed, FLAGS.val_share,
                           FLAGS.lto_max_test_rows, FLAGS.mnist_max_train_rows,
                           FLAGS.development_split)
  results: List[dict] = []
  record = {"command": " ".join(sys.argv), "cpu": cpu_model(),
            "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "flags": {f: getattr(FLAGS, f) for f in (
                "detectors", "datasets", "seeds", "max_train_rows", "mnist_max_train_rows",
                "lto_max_test_rows", "val_share", "split_seed", "engan_params",
                "engan_max_train_rows", "development_split")},
            "datasets": {}, "results": results}
  start = time.perf_counter()
  if os.path.dirname(FLAGS.output):
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
  for name in expand_datasets(FLAGS.datasets):
    ds = factory.build(name)
    print(f"[suite] {ds.describe()}", flush=True)
    record["datasets"][name] = {"notes": ds.notes, "n_train": len(ds.x_train),
                                "n_val": len(ds.x_val), "n_test": len(ds.x_test),
                                "n_features": int(ds.x_train.shape[1]),
                                "test_anomaly_share": float(ds.y_test.mean())}
    for seed in seeds:
      for det in detectors:
        r = run_detector(ds, det, seed, FLAGS.max_train_rows)
        results.append(r)
        print(f"[suite]   {det:8s} seed {seed}: AUROC {r['auroc']:.3f} AUPRC {r['auprc']:.3f} "
              f"F1 {r['f1']:.3f} recall@val95 {r['recall_val95']:.3f} false-alarm@val95 "
              f"{r['false_alarm_val95']:.3f} (fit {r['fit_s']:.1f} s, score "
              f"{r['score_s']:.1f} s)", flush=True)
    record["wall_s"] = round(time.perf_counter() - start, 1)
    with open(FLAGS.output, "w") as f:
      json.dump(record, f, indent=1)
  table = markdown_tables(results)
  print(table)
  print(f"\n[suite] {record['wall_s']} s; results in {FLAGS.output}")
  if FLAGS.markdown:
    with open(FLAGS.markdown, "w") as f:
      f.write(table + "\n")


if __name__ == "__main__":
  app.run(main)
