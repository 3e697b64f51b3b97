r"""KDD99 paper protocol: choose the configuration on the training half, report the test half once.

  # 1. every candidate on the development split (the training half split again, 50/50,
  #    20% anomalies in its second part; train.py --development_split): no row or label
  #    of the test half is used
  taskset -c 1 python bench/kdd_selection.py select --seeds=0 --runs_dir=runs/kdd_selection
  # 2. the chosen candidate (from step 1's JSON) on the paper's split, three seeds
  taskset -c 1 python bench/kdd_selection.py report --seeds=0,1,2 --runs_dir=runs/kdd_selection

Protocol (fixed before any run of it; issue 17, item 3). The candidates are the choices that
made `configs/kddcup99_tuned.cfg`, first made on the test half (BUILD_NOTES, KDD sessions
two to five): the paper's CPU config, the tuned config (as it was, lambda 1e7), and the
tuned config with one of its departures from the paper undone or moved (head, lambda,
learning rate, weight average), plus the tabular default recipe given the same evaluation
schedule. Each trains with one core and `--development_split`. The criterion is the score
norm's F1 at the anomaly share (the paper's decision function and metric) averaged over the
last 10 evaluations, mean over --seeds; the candidate with the highest criterion is chosen;
when another is within 0.005 of it, the one with the higher minimum F1 after the first third
of training wins (stability). The energy's F1 is recorded beside it and chooses nothing.
`report` trains the chosen candidate on the paper's split (the test half) and summarises it
the same way (bench/kdd_summary.py); its numbers choose nothing.

Writes --output (JSON, rewritten after every run); a run whose final_eval.json exists is
not retrained (train.py resumes an unfinished one).
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

import kdd_summary  # bench/kdd_summary.py: the F1 statistics of a run's eval.jsonl
import machine  # bench/machine.py: the CPU line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(name):
  return "--flagfile=" + os.path.join(ROOT, "configs", name)


# configs/kddcup99_tuned.cfg as it was before this selection (commit 294d3c6): the paper's
# KDD setting with the fifth session's departures. The selection chose its lambda 1e8 variant.
TUNED = [_config("kddcup99.cfg"), "--networks=kdd_quadratic_energy", "--lambda_penalty=1e7",
         "--learning_rate=5e-5", "--ema_decay=0.999", "--train_steps=20000",
         "--steps_per_epoch=500"]
CANDIDATES = {
    "paper_cpu": [_config("kddcup99_cpu.cfg")],
    "tuned": TUNED,
    "tuned_linear_head": TUNED + ["--networks=kdd"],
    "tuned_lambda1e5": TUNED + ["--lambda_penalty=1e5"],
    "tuned_lambda1e6": TUNED + ["--lambda_penalty=1e6"],
    "tuned_lambda1e8": TUNED + ["--lambda_penalty=1e8"],
    "tuned_lr1e-4": TUNED + ["--learning_rate=1e-4"],
    "tuned_no_average": TUNED + ["--ema_decay=0"],
    # engan_tf.recipes.tabular for 99,000 rows, evaluated like the others
    "tabular_recipe": TUNED + ["--train_steps=6000", "--steps_per_epoch=300",
                               "--learning_rate=1e-4", "--energy_learning_rate=5e-5",
                               "--lambda_penalty=1e5"],
}
TIE = 0.005  # criterion differences below this are decided by stability

FLAGS = flags.FLAGS
flags.DEFINE_list("seeds", ["0"], "Training seeds.")
flags.DEFINE_list("candidates", list(CANDIDATES), "Candidates to run (select).")
flags.DEFINE_string("runs_dir", "runs/kdd_selection", "Where the model_dirs go.")
flags.DEFINE_string("data_dir", os.environ.get("ENGAN_TF_TEST_DATA") or os.path.join(
    os.path.dirname(ROOT), "shared", "data"), "Holds the KDD file, or kddcup99/ with it.")
flags.DEFINE_string("output", "bench/results/kdd_selection.json", "Results (JSON).")


def train(name, seed, development):
  """Trains one candidate (resuming), returns its kdd_summary and wall time."""
  split = "dev" if development else "test"
  model_dir = os.path.join(FLAGS.runs_dir, f"{split}_{name}_s{seed}")
  wall_s = None  # a run finished by an earlier call: its time is in that call's JSON
  if not os.path.exists(os.path.join(model_dir, "final_eval.json")):
    start = time.time()
    cmd = [sys.executable, os.path.join(ROOT, "train.py"), *CANDIDATES[name],
           f"--data_dir={FLAGS.data_dir}", f"--model_dir={model_dir}", f"--seed={seed}",
           "--num_threads=1", "--verbose=0"]
    if development:
      cmd.append("--development_split")
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    wall_s = round(time.time() - start)
  summary = kdd_summary.summarise(model_dir)
  return {"candidate": name, "seed": seed, "split": split, "wall_s": wall_s,
          "score_norm": {k: summary["score_norm"][k] for k in
                         ("f1_last10", "f1_min_after_first_third", "auroc_last10")},
          "energy": {k: summary["energy"][k] for k in
                     ("f1_last10", "f1_min_after_first_third", "auroc_last10")},
          "score_norm_f1_trace": summary["score_norm"]["f1_trace"]}


def choose(runs):
  """The chosen candidate name and the per-candidate criterion (see the module docstring)."""
  table = {}
  for name in sorted({r["candidate"] for r in runs}):
    mine = [r for r in runs if r["candidate"] == name]
    table[name] = {
        "criterion": sum(r["score_norm"]["f1_last10"] for r in mine) / len(mine),
        "stability": min(r["score_norm"]["f1_min_after_first_third"] for r in mine),
        "energy_f1": sum(r["energy"]["f1_last10"] for r in mine) / len(mine),
        "seeds": [r["seed"] for r in mine]}
  best = max(table.values(), key=lambda c: c["criterion"])["criterion"]
  close = [n for n, c in table.items() if c["criterion"] >= best - TIE]
  return max(close, key=lambda n: table[n]["stability"]), table


def main(argv):
  stage = argv[1] if len(argv) > 1 else ""
  if stage not in ("select", "report"):
    raise app.UsageError("usage: kdd_selection.py select|report [--flags]")
  results = json.load(open(FLAGS.output)) if os.path.exists(FLAGS.output) else {
      "protocol": __doc__.split("Protocol")[1].split("Writes")[0].strip(),
      "candidates": {k: " ".join(v).replace(ROOT + "/", "") for k, v in CANDIDATES.items()},
      "machine": machine.line(), "development": [], "test": []}

  def save():
    os.makedirs(os.path.dirname(FLAGS.output) or ".", exist_ok=True)
    with open(FLAGS.output, "w") as f:
      json.dump(results, f, indent=1)

  if stage == "select":
    for name in FLAGS.candidates:
      for seed in map(int, FLAGS.seeds):
        if any(r["candidate"] == name and r["seed"] == seed for r in results["development"]):
          continue
        results["development"].append(train(name, seed, development=True))
        results["chosen"], results["criterion"] = choose(results["development"])
        save()
    for name, c in sorted(results["criterion"].items(), key=lambda kv: -kv[1]["criterion"]):
      print(f"{name:20s} score-norm F1 {c['criterion']:.4f} (min {c['stability']:.3f}) "
            f"energy F1 {c['energy_f1']:.4f} seeds {c['seeds']}")
    print("chosen:", results["chosen"])
  else:
    name = results["chosen"]
    for seed in map(int, FLAGS.seeds):
      if any(r["seed"] == seed for r in results["test"]):
        continue
      results["test"].append(train(name, seed, development=False))
      save()
    for r in results["test"]:
      print(f"{r['candidate']} seed {r['seed']}: score-norm F1 {r['score_norm']['f1_last10']:.4f} "
            f"(min {r['score_norm']['f1_min_after_first_third']:.3f}), AUROC "
            f"{r['score_norm']['auroc_last10']:.4f}; energy F1 {r['energy']['f1_last10']:.4f}")


if __name__ == "__main__":
  app.run(main)
