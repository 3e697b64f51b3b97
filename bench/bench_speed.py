"""All speed measurements in one run: training, sampling and scoring, in one table.

  taskset -c 0 python bench/bench_speed.py --threads=1 --data_dir=../shared/data
  python bench/bench_speed.py --threads=2 --skip=b,c,d,e       # the toy part on 2 cores

(a) toy training speed (configs/toy_25gaussians_paper.cfg: 25gaussians, 3 x 512, batch
    256, n_critic 5) measured in one process by bench/toy_step_speed.py: train.py's model,
    data stream and callbacks fitted after a warm-up, --rounds rounds, each timing every
    variant (--toy_variants) and then the plain PyTorch step (bench/torch_reference.py),
    so each figure stands beside its PyTorch counterpart from the same rounds;
(b) KDD99 training (configs/kddcup99_cpu.cfg, no PyTorch counterpart) and (c) image
    training at the paper's sizes, sngan32 (configs/cifar10.cfg) and dcgan28
    (configs/stacked_mnist3.cfg), each beside its plain PyTorch step, by the same
    in-process method, when --data_dir has the files;
(d) MALA chain-steps/s (bench_mcmc.py; latent rows beside a plain PyTorch MALA of the
    same networks); (e) scorer latency at batch 1 and throughput at batch 1,024, and the
    sampler's `sample` latency for 1 and 1,000 chains, through the exported SavedModels
    (bench_scorer.py).
Each part runs in its own process (thread settings are fixed at TensorFlow's start). Prints
one table headed by the CPU (lscpu model and flags) and the cores used, and writes
bench/results/speed.json.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import machine  # noqa: E402
import toy_step_speed  # noqa: E402


def run_json(script, output, *args):
  subprocess.run([sys.executable, os.path.join(HERE, script), f"--output={output}", *args],
                 cwd=ROOT, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  with open(output) as f:
    return json.load(f)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--threads", type=int, default=1)
  parser.add_argument("--rounds", type=int, default=5, help="rounds of part (a)")
  parser.add_argument("--toy_variants", default=toy_step_speed.DEFAULT_VARIANTS)
  parser.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c,d,e")
  args = parser.parse_args()
  skip = set(args.skip.split(","))
  results = {"machine": machine.describe(), "threads": args.threads}
  out = os.path.join(HERE, "results")
  os.makedirs(out, exist_ok=True)
  threads = f"--threads={args.threads}"
  rows = []  # (what, engan-tf, PyTorch, ratio)

  if "a" not in skip:
    results["toy"] = run_json("toy_step_speed.py", os.path.join(out, "toy_step_speed.json"),
                              threads, f"--rounds={args.rounds}",
                              f"--variants={args.toy_variants}")
    rows += [(f"(a) toy {what} (steps/s)", *rest)
             for what, *rest in toy_step_speed.table_rows(results["toy"])]
  # (part, name, flagfile, extra flags, steps per sample, rounds, PyTorch counterpart)
  parts = [("b", "kdd", "configs/kddcup99_cpu.cfg", [], 100, 3, False),
           ("c", "sngan32", "configs/cifar10.cfg", [], 5, 3, True),
           ("c", "dcgan28", "configs/stacked_mnist3.cfg", [], 5, 3, True)]
  for part, name, flagfile, extra, steps, rounds, with_torch in parts:
    if args.data_dir and part not in skip:
      results[name] = run_json(
          "toy_step_speed.py", os.path.join(out, f"train_speed_{name}.json"), threads,
          f"--flagfile={flagfile}", f"--data_dir={args.data_dir}", *extra, "--variants=fp32",
          *([] if with_torch else ["--no_torch"]), f"--steps={steps}", f"--rounds={rounds}")
      rows += [(f"({part}) {flagfile} {what[len('step, '):]} (steps/s)", *rest)
               for what, *rest in toy_step_speed.table_rows(results[name])]
  if "d" not in skip:
    results["mcmc"] = run_json("bench_mcmc.py", os.path.join(out, "bench_mcmc.json"), threads)
    for r in results["mcmc"]["rows"]:
      torch_rate = r.get("torch_chain_steps_per_s")
      rows.append((f"(d) MALA {r['case']}, {r['chains']} chains (chain-steps/s)",
                   f"{r['chain_steps_per_s']['median']:,.0f}",
                   f"{torch_rate['median']:,.0f}" if torch_rate else "-",
                   f"{r['ratio_vs_torch']:.2f}" if torch_rate else "-"))
  if "e" not in skip:
    results["scorer"] = run_json("bench_scorer.py", os.path.join(out, "bench_scorer.json"))
    for r in results["scorer"]["results"]:
      rows.append((f"(e) scorer {r['model']} {r['data_shape']}, batch 1 p50 / p90 (ms)",
                   f"{r['batch1_latency_ms_p50']:.3f} / {r['batch1_latency_ms_p90']:.3f}",
                   "-", "-"))
      rows.append((f"(e) scorer {r['model']} {r['data_shape']}, batch 1,024 (examples/s)",
                   f"{r['batch1024_examples_per_s']:,.0f}", "-", "-"))
      for chains, t in (r.get("sample_latency") or {}).items():
        rows.append((f"(e) exported sample {r['model']}, {chains} chain(s) x "
                     f"{r['sample_steps']} MALA steps, p50 / p90 (ms)",
                     f"{t['p50_ms']:.1f} / {t['p90_ms']:.1f}", "-", "-"))
  with open(os.path.join(out, "speed.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(machine.line() + f"; {args.threads} thread(s)")
  print("| what | engan-tf | PyTorch (same run) | ratio |\n|---|---|---|---|")
  for row in rows:
    print("| " + " | ".join(row) + " |")
  print("details: bench/results/speed.json and the parts' JSON files")


if __name__ == "__main__":
  main()
