"""All speed measurements in one run: training, sampling and scoring.

  python bench/bench_speed.py --data_dir=../shared/data          # ~10 minutes on 2 cores

(a) toy training throughput (25gaussians, 3 x 512, batch 256, n_critic 5) through
    train.py itself (runs of 100 and 400 steps, see bench_train.py), beside a plain
    PyTorch version of the same step (bench/torch_reference.py, when torch is installed),
    as a ratio measured in the same run;
(b) KDD99 training throughput (configs/kddcup99_cpu.cfg) and (c) 28x28 image training
    throughput (configs/mnist_anomaly_cpu.cfg), when --data_dir has the files;
(d) latent MALA chain-steps/s (bench_mcmc.py); (e) scorer latency at batch 1 and
    throughput at batch 1,024 through the exported SavedModel (bench_scorer.py).
Prints a table and writes bench/results/speed.json.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench_train  # noqa: E402


def torch_steps_per_second(threads):
  code = ("import sys; sys.path.insert(0, %r); import torch_reference as t; "
          "print(t.steps_per_second(threads=%d))" % (HERE, threads))
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  if proc.returncode:
    print("PyTorch reference skipped:", proc.stderr.strip().splitlines()[-1:])
    return None
  return float(proc.stdout.strip().splitlines()[-1])


def train_rate(flags, threads, short=100, long=400):
  t_short = bench_train.timed_run(flags, short, threads)
  t_long = bench_train.timed_run(flags, long, threads)
  return (long - short) / (t_long - t_short)


def run_json(script, output, *args):
  subprocess.run([sys.executable, os.path.join(HERE, script), f"--output={output}", *args],
                 cwd=ROOT, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  with open(output) as f:
    return json.load(f)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c,d,e")
  args = parser.parse_args()
  skip = set(args.skip.split(","))
  results = {"threads": args.threads, "cpus": os.cpu_count()}
  os.makedirs(os.path.join(HERE, "results"), exist_ok=True)

  if "a" not in skip:
    results["toy_train_steps_per_s"] = train_rate(
        ["--flagfile=configs/toy_25gaussians_paper.cfg", "--steps_per_epoch=100"], args.threads)
    results["toy_train_steps_per_s_without_xla"] = train_rate(
        ["--flagfile=configs/toy_25gaussians_paper.cfg", "--steps_per_epoch=100",
         "--nojit_compile"], args.threads)
    results["torch_plain_steps_per_s"] = torch_steps_per_second(args.threads)
    if results["torch_plain_steps_per_s"]:
      results["toy_ratio_vs_torch"] = (results["toy_train_steps_per_s"]
                                       / results["torch_plain_steps_per_s"])
  if args.data_dir and "b" not in skip and os.path.exists(os.path.join(ROOT, "configs/kddcup99_cpu.cfg")):
    results["kdd_train_steps_per_s"] = train_rate(
        ["--flagfile=configs/kddcup99_cpu.cfg", f"--data_dir={args.data_dir}"], args.threads)
  if args.data_dir and "c" not in skip and os.path.exists(os.path.join(ROOT, "configs/mnist_anomaly_cpu.cfg")):
    results["mnist28_train_steps_per_s"] = train_rate(
        ["--flagfile=configs/mnist_anomaly_cpu.cfg", f"--data_dir={args.data_dir}",
         "--anomaly_digit=1"], args.threads, short=20, long=80)
  if "d" not in skip:
    results["mcmc"] = run_json("bench_mcmc.py", os.path.join(HERE, "results", "bench_mcmc.json"))
  if "e" not in skip:
    results["scorer"] = run_json("bench_scorer.py",
                                 os.path.join(HERE, "results", "bench_scorer.json"))
  with open(os.path.join(HERE, "results", "speed.json"), "w") as f:
    json.dump(results, f, indent=2)
  for key, value in results.items():
    if not isinstance(value, dict):
      print(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")
  print("details: bench/results/speed.json")


if __name__ == "__main__":
  main()
