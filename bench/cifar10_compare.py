"""CIFAR-10 slice: EnGAN and WGAN-GP after the same CPU budget, scored by the standard FID.

Trains `configs/cifar10_cpu.cfg` twice through train.py, once as EnGAN and once as the
WGAN-GP baseline (`--model=wgan_gp`: same data, networks, optimiser and budget), each
stopped by `--max_train_minutes`; then scores each generator with the standard FID network
(engan_tf.metrics.fid_inception, the `inception-2015-12-05` graph): `--num_samples`
generated images, quantised to uint8 as real images are, against the slice's 4,000
training images and against its 1,000 test images, beside the real-vs-real floor
FID(training slice, test slice); EnGAN's samples also after --mcmc_steps latent MALA steps
from the same latents (paper Fig. 4), on the paper's target E(G(z)) and with the N(0, I)
latent prior. Writes one JSON file and a 64-sample grid per model and sampler.

  python bench/cifar10_compare.py --data_dir=../shared/data --minutes=50 --parallel \\
      --fid_weights=~/.engan_tf/fid_inception.weights.h5

--parallel trains the two models at once, each pinned to its own core (taskset) with one
TensorFlow thread: the same budget for each on a 2-core machine. Without it they train one
after the other with the threads TensorFlow picks. --skip_training scores existing runs
under --root. Samples: one fixed latent stream per model (seed --seed), the generator in
inference mode (batch-norm moving statistics; the weight average where the config has one).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import image_sampling  # noqa: E402
import machine  # noqa: E402

MODELS = ("engan", "wgan_gp")
SLICE = os.path.join("cifar10-subset", "cifar10_lossless_subset.npz")


def train_commands(args):
  """{model: argv} of the train.py runs."""
  commands = {}
  for i, model in enumerate(MODELS):
    argv = [sys.executable, "train.py", f"--flagfile={args.config}", f"--data_dir={args.data_dir}",
            f"--model={model}", f"--model_dir={os.path.join(args.root, model)}",
            f"--max_train_minutes={args.minutes:g}", f"--seed={args.seed}", *args.train_flags]
    if args.parallel:
      argv = ["taskset", "-c", str(i % os.cpu_count()), *argv, "--num_threads=1"]
    commands[model] = argv
  return commands


def train(args):
  """Runs the trainings (at once with --parallel); returns {model: wall seconds}."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  os.makedirs(args.root, exist_ok=True)
  started, walls = {}, {}
  processes = {}
  for model, argv in train_commands(args).items():
    print("+", " ".join(argv), flush=True)
    log = open(os.path.join(args.root, f"{model}.log"), "w")
    started[model] = time.time()
    processes[model] = (subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT), log)
    if not args.parallel:
      _wait(model, processes.pop(model), started, walls)
  for model, process in processes.items():
    _wait(model, process, started, walls)
  return walls


def _wait(model, process_and_log, started, walls):
  process, log = process_and_log
  code = process.wait()
  log.close()
  walls[model] = time.time() - started[model]
  if code:
    raise SystemExit(f"train.py --model={model} failed (exit {code}); see {log.name}")


def generated_uint8(model, num_samples, seed, mcmc_steps=0, prior="none", step_size=0.01):
  """(uint8 samples [n, 32, 32, 3], mean MALA acceptance or None): image_sampling's fixed
  latent stream, quantised as real images are."""
  from engan_tf.metrics import fid_inception
  return image_sampling.latent_samples(model, num_samples, seed, mcmc_steps, prior, step_size,
                                       transform=fid_inception.quantize)


def score(args, walls):
  """The report: FIDs of each model's samples and the real-vs-real floor."""
  import numpy as np
  from engan_tf import training, visualize
  from engan_tf.metrics import fid_inception, inception
  network = fid_inception.load(args.fid_weights if args.fid_weights == "random"
                               else os.path.expanduser(args.fid_weights))
  with np.load(os.path.join(args.data_dir, SLICE)) as data:
    real = {"train": data["train_images"], "test": data["test_images"]}
  if args.num_real:  # a quick check of the pipeline, not a result
    real = {k: v[:args.num_real] for k, v in real.items()}
  start = time.time()
  real_features = {k: fid_inception.features(network, v, args.fid_batch_size)
                   for k, v in real.items()}
  report = {"machine": machine.describe(), "config": args.config, "minutes": args.minutes,
            "parallel": args.parallel, "seed": args.seed, "train_flags": args.train_flags,
            "fid_weights": args.fid_weights, "num_samples": args.num_samples,
            "num_real": {k: len(v) for k, v in real.items()},
            "fid_real_train_vs_test": inception.fid_of_features(real_features["train"],
                                                                real_features["test"]),
            "models": {}}
  for name in MODELS:
    model_dir = os.path.join(args.root, name)
    model = training.restore(model_dir, data_dir=args.data_dir, with_data=False).model
    variants = [("", 0, "none")]
    if name == "engan" and args.mcmc_steps:  # paper Fig. 4: latent MALA refines samples
      variants += [(f"_mala{args.mcmc_steps}_prior_{prior}", args.mcmc_steps, prior)
                   for prior in ("none", "gaussian")]
    entry = {"model_dir": model_dir, "generator_steps": model.step,
             "train_wall_s": walls.get(name)}
    for suffix, steps, prior in variants:
      samples, acceptance = generated_uint8(model, args.num_samples, args.seed, steps, prior,
                                            args.mcmc_step_size)
      fake = fid_inception.features(network, samples, args.fid_batch_size)
      entry[f"fid_vs_train{suffix}"] = inception.fid_of_features(real_features["train"], fake)
      entry[f"fid_vs_test{suffix}"] = inception.fid_of_features(real_features["test"], fake)
      if acceptance is not None:
        entry[f"acceptance{suffix}"] = acceptance
      grid = visualize.image_grid(samples[:64], columns=8,
                                  caption=f"{name}{suffix}, step {model.step}")
      visualize.save_png(grid, os.path.join(args.results, f"cifar10_{name}{suffix}_samples.png"))
    report["models"][name] = entry
    print(name, json.dumps(entry), flush=True)
  report["fid_seconds"] = time.time() - start
  return report


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=__doc__.split("\n", 2)[2])
  p.add_argument("--data_dir", required=True, help="holds cifar10-subset/ (../shared/data)")
  p.add_argument("--config", default="configs/cifar10_cpu.cfg")
  p.add_argument("--minutes", type=float, default=50.0, help="training budget per model")
  p.add_argument("--root", default="runs/cifar10_compare")
  p.add_argument("--parallel", action="store_true")
  p.add_argument("--skip_training", action="store_true")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--num_samples", type=int, default=5000)
  p.add_argument("--num_real", type=int, default=0, help="> 0: only the first num_real "
                 "training and test images (a pipeline check)")
  p.add_argument("--fid_weights", default="~/.engan_tf/fid_inception.weights.h5")
  p.add_argument("--fid_batch_size", type=int, default=50)
  p.add_argument("--mcmc_steps", type=int, default=100, help="EnGAN is also scored after "
                 "this many latent MALA steps, with and without the latent prior (0: not)")
  p.add_argument("--mcmc_step_size", type=float, default=0.01, help="MALA's alpha")
  p.add_argument("--results", default=os.path.join(HERE, "results"))
  p.add_argument("--output", default=None, help="default: RESULTS/cifar10_compare.json")
  args, args.train_flags = p.parse_known_args()
  args.data_dir = os.path.abspath(args.data_dir)
  args.root = os.path.abspath(args.root)
  walls = {} if args.skip_training else train(args)
  report = score(args, walls)
  output = args.output or os.path.join(args.results, "cifar10_compare.json")
  os.makedirs(os.path.dirname(output), exist_ok=True)
  with open(output, "w") as f:
    json.dump(report, f, indent=2)
  print(json.dumps({k: report[k] for k in ("fid_real_train_vs_test", "models")}))
  print(f"written to {output}")


if __name__ == "__main__":
  main()
