"""Training throughput through train.py itself: generator steps per second.

Two runs of the same config, of N1 and N2 generator steps, into fresh model_dirs; the
throughput is (N2 - N1) / (t2 - t1), so process start-up, tracing and the final
evaluation cancel, while checkpoints and summaries count as in real use.

  python bench/bench_train.py --flagfile=configs/toy_25gaussians.cfg --threads=2
  python bench/bench_train.py --flagfile=configs/kddcup99_cpu.cfg --data_dir=../shared/data/kddcup99

Prints a line per run and writes bench/results/train_<dataset>.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_run(flags, steps, threads):
  with tempfile.TemporaryDirectory() as model_dir:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "train.py", *flags, f"--train_steps={steps}", f"--num_threads={threads}",
           f"--model_dir={model_dir}/run", "--verbose=0", "--eval_every=0"]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--flagfile", default="configs/toy_25gaussians.cfg")
  parser.add_argument("--short", type=int, default=100)
  parser.add_argument("--long", type=int, default=400)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=1)
  args, extra = parser.parse_known_args()
  flags = [f"--flagfile={args.flagfile}", *extra]
  rates = []
  for _ in range(args.repeats):
    t_short = timed_run(flags, args.short, args.threads)
    t_long = timed_run(flags, args.long, args.threads)
    rates.append((args.long - args.short) / (t_long - t_short))
    print(f"{args.short} steps: {t_short:.1f} s, {args.long} steps: {t_long:.1f} s -> "
          f"{rates[-1]:.2f} generator steps/s")
  result = {"flags": flags, "threads": args.threads, "steps_per_second": rates,
            "best_steps_per_second": max(rates), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count()}
  os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
  name = os.path.splitext(os.path.basename(args.flagfile))[0]
  with open(os.path.join(ROOT, "bench", "results", f"train_{name}.json"), "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
