"""The time budget of the default tabular recipe: `train.py --dataset=csv` with default flags.

  PYTHONPATH=. python bench/table_budget.py --rows=5000,10000 [--output=bench/results/table_budget.json]

The guide's budget: with default flags a 10,000-row table trains in under 3 minutes on 2
cores and 500,000 rows in under 20. For each row count this writes a synthetic table (8
numeric columns from a 3-component Gaussian mixture, one categorical column with 4 values,
a label column with 5% shifted rows), runs `python train.py --dataset=csv --data_path=...
--label_column=label --categorical_columns=proto` in a fresh model_dir with nothing else
set (the recipe chooses steps, batch and, up to 5,000 rows, a 3-fit ensemble), and records
the wall time of the whole process (start-up, data, training, evaluation, thresholds).
Prints one JSON line per table, with the CPU model and the recipe's choices from
config.json.

The same tables serve as a development set for large-table recipes (they are synthetic,
made here, and not part of the anomaly suite): `--train_flags` adds train.py flags (e.g.
a candidate's), `--seeds` runs each table once per seed, and each record has both decision
functions' AUROC on the table's own test half.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import machine  # bench/machine.py: the CPU line every speed figure carries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_table(path, rows, seed=0):
  rng = np.random.RandomState(seed)
  centres = rng.normal(scale=3.0, size=(3, 8))
  component = rng.randint(0, 3, rows)
  x = centres[component] + rng.normal(size=(rows, 8))
  label = rng.rand(rows) < 0.05
  x[label] += 6.0
  proto = np.array(["tcp", "udp", "icmp", "gre"])[rng.randint(0, 4, rows)]
  with open(path, "w") as f:
    f.write(",".join(f"x{i}" for i in range(8)) + ",proto,label\n")
    for i in range(rows):
      f.write(",".join(f"{v:.5f}" for v in x[i]) + f",{proto[i]},{int(label[i])}\n")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rows", default="5000,10000")
  parser.add_argument("--output", default="")
  parser.add_argument("--train_flags", default="", help="Extra train.py flags, space-separated.")
  parser.add_argument("--seeds", default="0", help="Comma-separated --seed values.")
  args = parser.parse_args()
  records = []
  runs = [(int(r), int(s)) for r in args.rows.split(",") for s in args.seeds.split(",")]
  for rows, seed in runs:
    with tempfile.TemporaryDirectory(prefix="engan_budget_") as tmp:
      data = os.path.join(tmp, "table.csv")
      write_table(data, rows)
      model_dir = os.path.join(tmp, "run")
      start = time.perf_counter()
      subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--dataset=csv",
                      f"--data_path={data}", "--label_column=label",
                      "--categorical_columns=proto", f"--model_dir={model_dir}", "--verbose=0",
                      f"--seed={seed}", *args.train_flags.split()],
                     check=True, cwd=ROOT, capture_output=True,
                     env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
      wall = time.perf_counter() - start
      with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
      config = config.get("config", config)
      with open(os.path.join(model_dir, "final_eval.json")) as f:
        final = json.load(f)["final_eval"]
      with open(os.path.join(model_dir, "anomaly_threshold.json")) as f:
        chosen = json.load(f)["decision_function"]  # what the exported decision uses
      record = {"rows": rows, "seed": seed, "train_flags": args.train_flags,
                "wall_s": round(wall, 1), "cpu": machine.line(),
                **{k: config.get(k) for k in ("train_steps", "batch_size", "ensemble_size",
                                              "lr_decay_start")},
                "energy_auroc": final.get("energy/auroc"),
                "score_norm_auroc": final.get("score_norm/auroc"),
                "decision_function": chosen}
      print(json.dumps(record), flush=True)
      records.append(record)
  if args.output:
    with open(args.output, "w") as f:
      json.dump(records, f, indent=1)


if __name__ == "__main__":
  main()
