"""bench/anomaly_suite.py: the data-set builders on synthetic tables, and the metrics.

The builders are checked on small synthetic KDD99-format tables (no file needed); the
MNIST builder also on the real files when ENGAN_TF_TEST_DATA is set.
"""

import importlib.util
import json
import os

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")  # a test/bench extra

from engan_tf.data import kdd  # noqa: E402
from engan_tf.data import mnist  # noqa: E402
from engan_tf.data import tabular  # noqa: E402

_BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


def _bench_module(name):
  """bench/<name>.py as a module (bench/ is scripts, not a package)."""
  spec = importlib.util.spec_from_file_location(name, os.path.join(_BENCH, f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


suite = _bench_module("anomaly_suite")


def synthetic_kdd_columns(n=400, seed=0, labels=None):
  """A KDD99-format table: every column of kdd.COLUMNS, random values, given labels."""
  rng = np.random.RandomState(seed)
  columns = {}
  for c in kdd.COLUMNS:
    if c == "label":
      continue
    if c in kdd.CATEGORICAL:
      vocab = {"protocol_type": ["tcp", "udp", "icmp"], "service": ["http", "smtp", "ftp"],
               "flag": ["SF", "S0"]}.get(c, ["0", "1"])
      columns[c] = np.asarray(vocab, dtype=str)[rng.randint(len(vocab), size=n)]
    else:
      columns[c] = rng.randint(0, 1000, size=n).astype(np.float64)
  if labels is None:
    labels = np.asarray(["normal.", "smurf.", "neptune.", "back.", "pod."])[
        rng.choice(5, size=n, p=[0.3, 0.3, 0.2, 0.1, 0.1])]
  columns["label"] = np.asarray(labels, dtype=str)
  return columns


@pytest.fixture(scope="module")
def table():
  return suite.kdd_table_from_columns(kdd.SCHEMA, synthetic_kdd_columns())


def test_perfect_scorer_gets_auroc_one_and_chance_scorer_about_half():
  y = np.r_[np.zeros(80, int), np.ones(20, int)]
  perfect = suite.evaluate_scores(y, y + 0.1 * np.arange(100) / 100, np.zeros(10))
  assert perfect["auroc"] == 1.0 and perfect["f1"] == 1.0
  assert perfect["auprc"] == pytest.approx(1.0)
  constant = suite.evaluate_scores(y, np.ones(100), np.zeros(10))
  assert constant["auroc"] == 0.5
  assert constant["f1"] == pytest.approx(0.2)  # all tied: 20 of 100 flagged at random
  assert constant["recall_val95"] == 1.0 and constant["false_alarm_val95"] == 1.0
  reversed_ = suite.evaluate_scores(y, -y.astype(float), np.zeros(10))
  assert reversed_["auroc"] == 0.0 and reversed_["f1"] == 0.0
  with pytest.raises(ValueError, match="needs anomalies"):
    suite.evaluate_scores(np.zeros(10, int), np.ones(10), np.zeros(10))


def test_val95_threshold_flags_five_percent_of_rows_like_the_validation_rows():
  rng = np.random.RandomState(0)
  val, normal = rng.randn(20_000), rng.randn(20_000)
  y = np.r_[np.zeros(20_000, int), np.ones(100, int)]
  r = suite.evaluate_scores(y, np.r_[normal, rng.randn(100) + 5], val)
  assert r["false_alarm_val95"] == pytest.approx(0.05, abs=0.006)
  assert r["recall_val95"] > 0.95


def test_score_distinct_scores_each_distinct_row_once():
  x = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [0.0, 0.0]], np.float32)
  seen = []

  def score(q):
    seen.append(len(q))
    return q.sum(axis=1)

  np.testing.assert_allclose(suite.score_distinct(score, x), [3.0, 7.0, 3.0, 0.0])
  assert seen == [3]


def test_odds_http_builder_filters_and_log_transforms():
  columns = synthetic_kdd_columns(n=2000, seed=1)
  out = suite.build_odds_service(columns, "http", split_seed=42, val_share=0.1)
  keep = (columns["service"] == "http") & (columns["logged_in"].astype(float) == 1)
  is_attack = columns["label"][keep] != "normal."
  raw = np.stack([columns[c][keep] for c in ("duration", "src_bytes", "dst_bytes")], 1)
  all_x = np.concatenate([out.x_train, out.x_val, out.x_test])
  assert all_x.shape == (keep.sum(), 3)  # every kept row once; only the 3 columns
  # log(x + 0.1): same multiset of rows as the transformed selection
  expected = np.log(raw + 0.1).astype(np.float32)
  np.testing.assert_allclose(np.sort(all_x, axis=0), np.sort(expected, axis=0), rtol=1e-6)
  assert np.log(0.1) == pytest.approx(float(suite.odds_features(
      {"duration": [0.0], "src_bytes": [0.0], "dst_bytes": [0.0]})[0, 0]))
  # the test set holds every attack and the held-out half of the normal rows
  assert out.y_test.sum() == is_attack.sum()
  n_normal = int((~is_attack).sum())
  assert len(out.x_test) - out.y_test.sum() == n_normal - n_normal // 2
  assert len(out.x_train) + len(out.x_val) == n_normal // 2
  assert len(out.x_val) == round(0.1 * (n_normal // 2))


def test_kddrev_trains_on_normal_traffic_with_20_percent_test_attacks(table):
  out = suite.build_kddrev(table, split_seed=42, val_share=0.1)
  n = len(table.labels)
  perm = np.random.RandomState(42).permutation(n)
  train_half, test_half = perm[:n // 2], perm[n // 2:]
  n_normal_train = int(table.is_normal_traffic[train_half].sum())
  assert len(out.x_train) + len(out.x_val) == n_normal_train
  n_test_normal = int(table.is_normal_traffic[test_half].sum())
  assert len(out.x_test) - out.y_test.sum() == n_test_normal
  assert out.y_test.sum() == int(n_test_normal * 0.2 / 0.8)
  assert out.y_test.mean() == pytest.approx(0.2, abs=1.0 / len(out.y_test))
  assert out.x_train.min() == 0.0 and out.x_train.max() == pytest.approx(1.0)


def test_kdd99_is_the_paper_protocol_of_the_project(table):
  out = suite.build_kdd99(table, split_seed=42, val_share=0.1)
  is_anomaly = table.is_normal_traffic.astype(np.int64)
  train_rows, test_rows = tabular.anomaly_split(is_anomaly, 42, 0.2)
  train_rows, val_rows = tabular.validation_split(train_rows, 0.1, 42)
  np.testing.assert_array_equal(out.y_test, is_anomaly[test_rows])  # normal. = anomaly
  assert len(out.x_train) == len(train_rows) and len(out.x_val) == len(val_rows)
  # The same features as the project's own kddcup99 source with a validation share.
  schema_columns = synthetic_kdd_columns()
  source = kdd.source_from_table(kdd.SCHEMA, schema_columns, is_anomaly, validation_share=0.1)
  np.testing.assert_allclose(out.x_train, source.anomaly.x_train, atol=1e-5)
  np.testing.assert_allclose(out.x_val, source.anomaly.x_val, atol=1e-5)
  np.testing.assert_allclose(out.x_test, source.anomaly.x_test, atol=1e-5)


@pytest.mark.parametrize("mode", ["paper", "all"])
def test_leave_type_out_trains_without_the_held_out_type(table, mode):
  out = suite.build_kdd_leave_type_out(table, "back", mode, split_seed=42, val_share=0.1,
                                       max_test_rows=50)
  n = len(table.labels)
  perm = np.random.RandomState(42).permutation(n)
  train_half, test_half = perm[:n // 2], perm[n // 2:]
  labels_train = table.labels[train_half]
  trains = labels_train != "back."
  if mode == "paper":
    trains &= labels_train != "normal."
  assert len(out.x_train) + len(out.x_val) == trains.sum()
  assert out.y_test.sum() == (table.labels[test_half] == "back.").sum()
  assert len(out.y_test) - out.y_test.sum() == 50  # the seen-type subsample
  assert ("normal_traffic" in out.extra_sets) == (mode == "paper")
  assert out.group == "lto"


def test_the_development_split_uses_no_row_of_the_test_half():
  # Tables whose labels say which half a row is in: a row of the test half would show up.
  n = 400
  train_half, _ = tabular.split_halves(n, 42)
  in_train_half = np.zeros(n, bool)
  in_train_half[train_half] = True
  columns = synthetic_kdd_columns(n)
  columns["duration"] = np.where(in_train_half, 0.0, 1.0)  # the first numeric feature
  table = suite.kdd_table_from_columns(kdd.SCHEMA, columns)
  factory = suite.DatasetFactory("", 42, 0.1, 1000, 1000, development=True)
  factory._kdd = table  # pylint: disable=protected-access
  for name in ("kdd99", "kddrev", "kdd_lto_all_back", "kdd_lto_paper_smurf"):
    ds = factory.build(name)
    for x in (ds.x_train, ds.x_val, ds.x_test):  # scaled on a constant 0 column: 0 stays 0
      assert np.all(x[:, 0] == 0.0), name
    assert ds.y_test.sum() > 0, name
  assert table.features[~in_train_half, 0].min() > 0  # the marker survives preprocessing
  with pytest.raises(ValueError, match="no development split"):
    factory.build("digits_0")


def test_held_out_class_matches_the_projects_mnist_split():
  labels = np.random.RandomState(0).randint(10, size=500)
  x = np.arange(500, dtype=np.float32)[:, None]  # the row index as the feature
  out = suite.held_out_class("t", x, labels, 3, split_seed=42, val_share=0.1)
  train_rows, test_rows, is_anomaly = mnist.held_out_digit_split(labels, 3, 42)
  np.testing.assert_array_equal(out.x_test[:, 0], test_rows)
  np.testing.assert_array_equal(out.y_test, is_anomaly)
  np.testing.assert_array_equal(np.sort(np.r_[out.x_train[:, 0], out.x_val[:, 0]]),
                                np.sort(train_rows))


def test_baselines_separate_a_shifted_cluster():
  rng = np.random.RandomState(0)
  x_train = rng.randn(300, 4).astype(np.float32)
  ds = suite.AnomalyDataset("blob", x_train, rng.randn(50, 4).astype(np.float32),
                            np.r_[rng.randn(100, 4), rng.randn(20, 4) + 6].astype(np.float32),
                            np.r_[np.zeros(100, int), np.ones(20, int)])
  for name in suite.BASELINES:
    r = suite.run_detector(ds, name, seed=0, max_train_rows=200)
    assert r["auroc"] > 0.99, name
    assert r["n_train_used"] == (300 if name == "iforest" else 200)


def test_markdown_table_has_a_row_per_data_set_and_a_mean_auroc_row():
  results = [dict(dataset=d, group="main", detector=m, seed=0, auroc=a, auprc=0.5, f1=0.5,
                  recall_val95=0.5, false_alarm_val95=0.05, test_anomaly_share=0.2,
                  n_train=10, n_train_used=10, fit_s=1.0, score_s=1.0)
             for d, a in (("a", 0.9), ("b", 0.7)) for m in ("iforest", "knn")]
  table = suite.markdown_tables(results)
  assert "| a | 20.0% | 0.900 / 0.500 / 0.500 | 0.900 / 0.500 / 0.500 |" in table
  assert "| **mean AUROC** | | **0.800** | **0.800** |" in table


def test_mnist_builder_on_the_real_files(data_dir):
  images, labels = suite.load_mnist(os.path.join(data_dir, "mnist"))
  out = suite.build_mnist(images, labels, 1, split_seed=42, val_share=0.1)
  assert out.x_test.shape == (20302, 784) and out.y_test.sum() == 7877  # as mnist_anomaly
  assert 0.0 <= out.x_train.min() and out.x_train.max() <= 1.0
  assert out.max_train_rows == 10_000


def test_ocsvm_fast_scoring_equals_score_samples():
  rng = np.random.RandomState(1)
  x = rng.rand(400, 6).astype(np.float32)
  det = suite.OcsvmDetector(seed=0, max_train_rows=300)
  score = det.fit(x)
  q = rng.rand(50, 6).astype(np.float32) * 1.5
  np.testing.assert_allclose(score(q), -det.model.score_samples(q), rtol=1e-6, atol=1e-8)


def test_a_detectors_own_decision_is_reported_beside_the_suites_threshold(monkeypatch,
                                                                          tmp_path):
  """engan's predict (the exported is_anomaly) is measured on the test rows as it is, beside
  the rate its threshold can promise (saved in its model_dir)."""
  from engan_tf import rundir  # pylint: disable=g-import-not-at-top
  rundir.RunDir(str(tmp_path)).save_thresholds(rundir.AnomalyThresholds(
      step=1, thresholds={"energy": 1.0}, fit_on="validation", promised_false_alarm_rate=1 / 7,
      held_out_rows=6))

  class Own:  # flags column 0 above 1: what the detector itself decides
    model_dir_ = str(tmp_path)

    def predict(self, x):
      return np.where(x[:, 0] > 1.0, -1, 1)

  class Stub:
    n_train_used, model = 4, Own()

    def fit(self, x_train):
      return lambda x: x[:, 0]

  monkeypatch.setattr(suite, "make_detector", lambda *args: Stub())
  x_test = np.array([[0.0], [2.0], [0.5], [3.0], [1.5], [0.2]], np.float32)
  y_test = np.array([0, 0, 0, 1, 1, 1])
  ds = suite.AnomalyDataset("toy", np.zeros((4, 1), np.float32),
                            np.zeros((3, 1), np.float32), x_test, y_test)
  r = suite.run_detector(ds, "engan", seed=0, max_train_rows=None)
  assert r["is_anomaly_recall"] == pytest.approx(2 / 3)
  assert r["is_anomaly_false_alarm"] == pytest.approx(1 / 3)
  assert (r["is_anomaly_promised_false_alarm"], r["is_anomaly_held_out_rows"]) == (
      pytest.approx(1 / 7), 6)
  table = suite.markdown_tables([dict(r, group="main")])
  assert "| toy | 0.667 / 0.333 (promised 0.143) |" in table


def test_the_decision_rule_criterion_averages_families_and_keeps_the_own_rule_on_ties():
  rules = _bench_module("decision_rule_selection")

  def engan(dataset, chosen, energy, score_norm, mix, seed=0):
    return {"detector": "engan", "dataset": dataset, "seed": seed, "decision_function": chosen,
            "auroc_energy": energy, "auroc_score_norm": score_norm, "auroc_mix": mix}

  results = [engan("kdd99", "energy", 0.90, 0.99, 0.96),
             engan("kdd99", "energy", 0.92, 0.97, 0.96, seed=1),
             engan("kddrev", "score_norm", 0.99, 0.98, 0.99),
             engan("kdd_lto_all_smurf", "score_norm", 0.95, 0.85, 0.87),
             engan("kdd_lto_all_back", "energy", 0.30, 0.80, 0.75),
             engan("mnist_0", "energy", 0.0, 0.0, 0.0),  # not a development family
             {"detector": "knn", "dataset": "kddrev", "seed": 0, "auroc": 0.5}]
  scores, table, seeds = rules.criterion(results)
  assert seeds == [0, 1]
  assert table["own"]["kdd99"] == pytest.approx(0.91)  # seeds averaged
  assert table["own"]["kdd_lto_all"] == pytest.approx((0.85 + 0.30) / 2)  # types averaged
  assert scores["own"] == pytest.approx((0.91 + 0.98 + 0.575) / 3)  # families averaged
  assert scores["mix"] == pytest.approx((0.96 + 0.99 + 0.81) / 3)
  assert scores["knn"] == pytest.approx(0.5)
  assert rules.choose(scores) == "score_norm"  # 0.928 beats mix 0.920 and own 0.822
  assert rules.choose({"own": 0.90, "energy": 0.905, "score_norm": 0.909, "mix": 0.88}) == "own"


def test_the_large_table_recipe_protocol_needs_every_record_and_keeps_the_default_on_ties(
    tmp_path, capsys):
  selection = _bench_module("large_table_recipe_selection")

  def suite_json(name, auroc, skip=()):
    records = [{"detector": "engan", "dataset": d, "seed": s, "decision_function": "energy",
                "auroc_energy": auroc, "auroc_score_norm": 0.5, "auroc_mix": 0.5}
               for d, s in sorted(selection.PROTOCOL) if (d, s) not in skip]
    records.append({"detector": "engan", "dataset": "kdd99", "seed": 7,  # not the protocol's
                    "decision_function": "energy", "auroc_energy": 0.0,
                    "auroc_score_norm": 0.0, "auroc_mix": 0.0})
    out = tmp_path / f"{name}.json"
    out.write_text(json.dumps({"results": records}))
    return f"{name}={out}"

  assert selection.KDD_LTO_TYPES == suite.KDD_LTO_TYPES
  assert len(selection.PROTOCOL) == 16  # kdd99, kddrev x 3 seeds; 10 types x 1
  selection.main([suite_json("swish_dsm", 0.90), suite_json("quadratic", 0.905),
                  suite_json("capped_10k", 0.99, skip={("kddrev", 2)})])
  out = capsys.readouterr().out
  assert "| capped_10k | missing 1 records: kddrev seed 2 |" in out  # not compared
  assert "| quadratic | own | 0.905 | 0.905 | 0.905 | **0.905** |" in out  # seed 7 left out
  assert "**swish_dsm**" in out  # quadratic's +0.005 is a tie
  assert selection.choose({"swish_dsm": 0.90, "quadratic": 0.92}) == "quadratic"


def test_the_false_alarm_law_matches_a_simulated_conformal_threshold(tmp_path):
  """bench/false_alarm_band.py's BetaBinomial law of the flagged test normals against
  simulated splits of one normal pool: n held-out rows set the conformal threshold, m test
  rows are flagged above it."""
  from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
  band = _bench_module("false_alarm_band")
  rng = np.random.RandomState(0)
  for n, m in ((11, 60), (40, 300)):
    flagged = []
    for _ in range(4000):
      pool = rng.standard_normal(n + m)
      threshold = anomaly.conformal_quantile(pool[:n], 0.95)
      flagged.append(int(np.sum(pool[n:] > threshold)))
    flagged = np.asarray(flagged)
    law = band.flag_count_law(n, m)
    assert np.mean(flagged) / m == pytest.approx(law.mean() / m, abs=0.006)
    simulated = np.mean(np.abs(flagged / m - 0.05) <= 0.02 + 1e-12)
    assert simulated == pytest.approx(band.band_probability(law, m), abs=0.03)
  # A suite record: n from the record's field, or 20% of the rows the detector was given.
  record = {"detector": "engan", "dataset": "wine_0", "seed": 0, "group": "main",
            "n_train_used": 53, "n_test": 119, "test_anomaly_share": 59 / 119,
            "is_anomaly_false_alarm": 11 / 60}
  path = tmp_path / "suite.json"
  path.write_text(json.dumps({"results": [record, dict(record, detector="iforest"),
                                          dict(record, is_anomaly_held_out_rows=30)]}))
  rows = band.rows_of([str(path)])
  assert [(r["held_out"], r["test_normals"]) for r in rows] == [(11, 60), (30, 60)]
  assert rows[0]["promised"] == pytest.approx(1 / 12) and not rows[0]["in_band"]
  assert "0 of 2 records in the band" in band.markdown(rows)
