"""score.py: a CSV of raw records scored by the exported scorer, without a model server."""

import csv
import os
import re
import sys

import numpy as np
import pytest

from engan_tf import training

import concurrent_runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT_COLUMNS = ["energy", "score_norm", "is_anomaly", "nonfinite", "unseen_categories",
                  "out_of_range_columns", "top_column"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("score")
  rng = np.random.default_rng(0)
  path = str(tmp / "train.csv")
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["a", "proto", "b"])
    for a, p, b in zip(rng.normal(size=300), rng.choice(["tcp", "udp"], 300),
                       rng.normal(size=300)):
      writer.writerow([f"{a:.4f}", p, f"{b:.4f}"])
  run = str(tmp / "run")
  training.train(training.TrainConfig(
      dataset="csv", model_dir=run, dim=8, latent_dim=2, batch_size=32, n_critic=1,
      train_steps=10, steps_per_epoch=10, eval_every=0, verbose=0, jit_compile=False,
      ensemble_size=1, dataset_options={"data_path": path, "categorical_columns": ["proto"]}))
  return run


_ENV = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")


def _score(args):
  return [sys.executable, os.path.join(ROOT, "score.py"), *args]


# An extra column first, the training columns in another order, a NaN, an empty numeric
# field, an unseen category, a far beyond its training range (r5); 7 rows in batches of 3.
ROWS = [["r0", "0.1", "tcp", "0.2"], ["r1", "nan", "udp", "0.0"], ["r2", "1.0", "tcp", ""],
        ["r3", "0.3", "zzz", "0.1"], ["r4", "-0.5", " udp ", "1.5"], ["r5", "40", "tcp", "1"],
        ["r6", "0", "udp", "0"]]


@pytest.fixture(scope="module")
def scored(model_dir, tmp_path_factory):
  """score.py on a good CSV (good/) and on one that lacks a training column (missing/), both
  runs at once: {name: (CompletedProcess, its directory)}."""
  dirs = {name: tmp_path_factory.mktemp(name) for name in ("good", "missing")}
  with open(dirs["good"] / "in.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["id", "b", "proto", "a"])
    writer.writerows([[r[0], r[3], r[2], r[1]] for r in ROWS])
  with open(dirs["missing"] / "in.csv", "w") as f:
    f.write("a,proto\n0.1,tcp\n")
  commands = {"good": _score([f"--model_dir={model_dir}", "--input=in.csv", "--output=out.csv",
                              "--batch_size=3"]),
              "missing": _score([f"--model_dir={model_dir}", "--input=in.csv",
                                 "--output=out.csv"])}
  # Relative --input/--output: each run in its own directory.
  runs = concurrent_runs.run_all(list(commands.values()), timeout=300,
                                 cwds=[dirs[name] for name in commands], env=_ENV)
  return {name: (run, dirs[name]) for name, run in zip(commands, runs)}


def test_scores_every_row_in_order_with_extra_columns_and_bad_values(scored):
  proc, directory = scored["good"]
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "scored 7 rows" in proc.stderr
  with open(directory / "out.csv", newline="") as f:
    out = list(csv.reader(f))
  assert out[0] == ["id", "b", "proto", "a"] + OUTPUT_COLUMNS
  body = out[1:]
  assert [r[:4] for r in body] == [[r[0], r[3], r[2], r[1]] for r in ROWS]  # unchanged
  result = [dict(zip(OUTPUT_COLUMNS, r[4:])) for r in body]
  assert [r["nonfinite"] for r in result] == ["0", "1", "1", "0", "0", "0", "0"]
  assert all(r["is_anomaly"] == "1" for r in result if r["nonfinite"] == "1")
  assert [r["unseen_categories"] for r in result] == ["0", "0", "0", "1", "0", "0", "0"]
  # The support wall (engan_tf/support.py): a = 40 lies beyond a's range and decides r5.
  assert [r["out_of_range_columns"] for r in result] == ["0", "0", "0", "0", "0", "1", "0"]
  assert result[5]["is_anomaly"] == "1" and result[5]["top_column"] == "a"
  assert [r["top_column"] == "" for r in result] == [False, True, True, False, False, False,
                                                     False]
  assert {r["top_column"] for r in result} <= {"", "a", "b", "proto"}
  assert np.isfinite(float(result[0]["energy"])) and float(result[0]["score_norm"]) >= 0
  assert not os.path.exists(directory / "out.csv.tmp")


def test_a_missing_training_column_is_one_clear_error(scored):
  proc, directory = scored["missing"]
  assert proc.returncode == 2
  # TensorFlow's C++ start-up lines (oneDNN, CUDA) are not the tool's: leave them out.
  lines = [line for line in proc.stderr.strip().splitlines()
           if not re.match(r"(WARNING: All log messages|[IWE]\d{4} )", line)]
  assert len(lines) == 1, proc.stderr
  assert "in.csv" in lines[0] and "missing training column(s) 'b'" in lines[0]
  assert not os.path.exists(directory / "out.csv")
