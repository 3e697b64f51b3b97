"""Training speed measured in one process: engan-tf's fit beside the plain PyTorch step.

What is measured: generator steps per second of `model.fit` on exactly what train.py
fits (`engan_tf.training.prepare`: the compiled model, the data stream and train.py's
callbacks, checkpoints and TensorBoard summaries included; evaluation off, as
--eval_every=0) for a config (default configs/toy_25gaussians_paper.cfg: 3 x 512 MLPs,
batch 256, n_critic 5). Each variant (below) is built and warmed up once (one untimed
epoch: tracing, XLA compilation; its seconds are reported as `warmup_s`); then each of
`--rounds` rounds times one block per variant (`--epochs` epochs of `--steps` generator
steps, each epoch one sample, timed by a callback from the epoch's begin to its end) and
then `--steps` steps of the plain PyTorch step (bench/torch_reference.py: the toy mlp512
step, or sngan32 / dcgan28 for image configs, e.g. configs/cifar10.cfg) as one sample.
Every block of a round sees the same machine state, so the ratio is measured side by
side; per variant the median, min and max of its samples and the median of the per-round
ratios to PyTorch are reported.

Variants (--variants, comma-separated; each the config's own flags plus its parts, joined
by "+", e.g. bf16+nojit+spe20):
  fp32         the config as train.py runs it (XLA as build.default_jit_compile chooses:
               on, but off for convolutional networks on a CPU; --steps_per_execution=1)
  nojit, jit   --nojit_compile, --jit_compile
  bf16         --mixed_precision (bfloat16 compute, float32 variables)
  speK         --steps_per_execution=K (K divides --steps)
  ncritic1     --n_critic=1: one energy update instead of n_critic
  nopenalty    the energy updates without the score penalty's double backward (the bench
               replaces engan_tf.losses.energy_and_score_norm by E(x) and a zero norm
               while this variant's step is traced; a profiling variant only)
  nocallbacks  fit without train.py's callbacks (no per-step host sync)
  constdata    one cached minibatch repeated instead of the input pipeline
  ema          --ema_decay=0.999 (the weight average's per-step update)
The profile in the output is the differences of medians, in ms per generator step.

  taskset -c 0 python bench/toy_step_speed.py --threads=1    # fp32, nojit, bf16, bf16+nojit
  python bench/toy_step_speed.py --threads=2 --flagfile=configs/cifar10.cfg \\
      --data_dir=../shared/data --steps=5 --rounds=3 --variants=fp32,jit,bf16 --torch_bf16
  taskset -c 0 python bench/toy_step_speed.py --threads=1 --rounds=3 \\
      --variants=fp32,spe5,spe20,spe100,ncritic1,nopenalty,nocallbacks,constdata,ema
Writes bench/results/toy_step_speed.json (--output) and prints a table.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import machine  # noqa: E402

DEFAULT_VARIANTS = "fp32,nojit,bf16,bf16+nojit"


_CONFIG_PARTS = {"fp32": {}, "nojit": {"jit_compile": False}, "jit": {"jit_compile": True},
                 "bf16": {"mixed_precision": True},
                 "ncritic1": {"n_critic": 1}, "ema": {"ema_decay": 0.999}}
_FIT_PARTS = {"nopenalty": {"no_score_penalty": True}, "nocallbacks": {"callbacks": False},
              "constdata": {"constant_data": True}}


def variant_options(name):
  """(TrainConfig overrides, fit options) of a variant name: parts joined by "+" (see the
  module docstring), e.g. "bf16+nojit+spe20"."""
  config, fit = {}, {}
  for part in name.split("+"):
    if part in _CONFIG_PARTS:
      config.update(_CONFIG_PARTS[part])
    elif part in _FIT_PARTS:
      fit.update(_FIT_PARTS[part])
    elif part.startswith("spe") and part[3:].isdigit():
      config["steps_per_execution"] = int(part[3:])
    else:
      raise ValueError(f"unknown variant part {part!r} in {name!r}; see the module docstring")
  return config, fit


def parse_config(flagfile, extra_flags):
  """The TrainConfig train.py would run for `--flagfile=flagfile extra_flags...`."""
  from absl import flags
  from engan_tf import cli
  values = flags.FlagValues()
  cli.define_train_flags(values)
  values(cli.expand_flagfiles(["toy_step_speed", f"--flagfile={flagfile}", *extra_flags]))
  return cli.train_config_from_flags(values)


@contextlib.contextmanager
def without_score_penalty(enabled):
  """While enabled, losses.energy_and_score_norm returns (E(x), 0): no double backward."""
  from engan_tf import losses
  original = losses.energy_and_score_norm
  if enabled:
    import tensorflow as tf
    losses.energy_and_score_norm = lambda fn, x, training=False: (
        fn(x, training=training), tf.zeros([tf.shape(x)[0]]))
  try:
    yield
  finally:
    losses.energy_and_score_norm = original


class Variant:
  """One built model of train.py's run for a variant, and its timed epochs."""

  def __init__(self, name, base_config, root, steps):
    from engan_tf import training
    overrides, self.fit_options = variant_options(name)
    self.name = name
    config = dataclasses.replace(base_config, model_dir=os.path.join(root, name),
                                 train_steps=10**9, eval_every=0, verbose=0,
                                 steps_per_epoch=steps, max_train_minutes=0, **overrides)
    self.prepared = training.prepare(config)
    self.steps = steps
    self.samples = []
    self.warmup_s = None

  def _fit(self, epochs):
    import keras
    seconds = []

    class Timer(keras.callbacks.Callback):
      def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

      def on_epoch_end(self, epoch, logs=None):
        seconds.append(time.perf_counter() - self.start)

    dataset = self.prepared.dataset()
    if self.fit_options.get("constant_data"):
      dataset = dataset.take(1).cache().repeat()
    callbacks = list(self.prepared.callbacks) if self.fit_options.get("callbacks", True) else []
    with without_score_penalty(self.fit_options.get("no_score_penalty", False)):
      self.prepared.model.fit(dataset, steps_per_epoch=self.steps, epochs=epochs,
                              callbacks=callbacks + [Timer()], verbose=0, shuffle=False)
    return seconds

  def warm_up(self):
    start = time.perf_counter()
    self._fit(1)
    self.warmup_s = time.perf_counter() - start

  def block(self, epochs):
    self.samples += [self.steps / s for s in self._fit(epochs)]


def summary(samples):
  return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
          "samples": samples}


def torch_engan(torch_reference, config, data_shape, bf16):
  """The plain PyTorch counterpart of config's training step, or None where there is none."""
  if config.model != "engan" or config.mcmc_steps:
    return None
  options = dict(batch=config.batch_size, n_critic=config.n_critic, latent=config.latent_dim,
                 lam=config.lambda_penalty, bf16=bf16)
  if config.dataset == "25gaussians" and config.networks in (None, "mlp512") and (
      config.dim in (None, 512)):
    return torch_reference.toy_engan(**options)
  if config.networks in ("sngan32", "dcgan28"):
    return torch_reference.image_engan(config.networks, data_shape, config.dim or 64, **options)
  return None


def measure(args):
  """Runs the interleaved rounds; returns the report (see the module docstring)."""
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  torch_reference = None
  if not args.no_torch:
    try:
      import torch
      import torch_reference
      torch.set_num_threads(args.threads)
    except ImportError as e:
      print(f"PyTorch reference skipped: {e}")
  base = parse_config(args.flagfile, args.flags + [f"--num_threads={args.threads}"])
  names = args.variants.split(",")
  with tempfile.TemporaryDirectory() as root:
    variants = [Variant(name, base, root, args.steps) for name in names]
    for v in variants:
      v.warm_up()
    references = {}  # "torch" (float32) and, with --torch_bf16, "torch_bf16" (autocast)
    if torch_reference is not None:
      data_shape = tuple(variants[0].prepared.model.energy.input_shape[1:])
      for key, bf16 in (("torch", False), ("torch_bf16", True))[:1 + args.torch_bf16]:
        references[key] = torch_engan(torch_reference, base, data_shape, bf16)
        if references[key] is None:
          print("PyTorch reference skipped: it covers the EnGAN step of mlp512 on "
                "25gaussians and of sngan32 and dcgan28, without MCMC negatives")
          references = {}
          break
        references[key].seconds(2)  # warm-up
    reference_samples = {key: [] for key in references}
    for _ in range(args.rounds):
      for v in variants:
        v.block(args.epochs)
      for key, reference in references.items():
        reference_samples[key].append(args.steps / reference.seconds(args.steps))
  torch_samples = reference_samples.get("torch")
  report = {"machine": machine.describe(), "threads": args.threads, "flagfile": args.flagfile,
            "flags": args.flags, "steps_per_sample": args.steps, "rounds": args.rounds,
            "epochs_per_block": args.epochs, "tensorflow": tf.__version__, "variants": {}}
  if torch_samples:
    import torch
    for key, samples in reference_samples.items():
      report[key] = {"version": torch.__version__, **summary(samples)}
  for v in variants:
    entry = {"warmup_s": v.warmup_s, **summary(v.samples)}
    if torch_samples:
      per_round = [statistics.median(v.samples[r * args.epochs:(r + 1) * args.epochs])
                   / torch_samples[r] for r in range(args.rounds)]
      entry["ratio_vs_torch"] = {"of_medians": entry["median"] / report["torch"]["median"],
                                 "per_round_median": statistics.median(per_round),
                                 "per_round": per_round}
    report["variants"][v.name] = entry
  report["profile_ms_per_step"] = profile(report["variants"], base.n_critic)
  return report


def profile(variants, n_critic):
  """Differences of median step times (ms) between variants, where both were measured."""
  ms = {name: 1000.0 / v["median"] for name, v in variants.items()}
  rows = {}
  if "fp32" not in ms:
    return rows
  full = ms["fp32"]
  rows["full step (fp32)"] = full
  if "ncritic1" in ms:
    per_update = (full - ms["ncritic1"]) / (n_critic - 1) if n_critic > 1 else float("nan")
    rows["one energy update (from n_critic 1 vs the config's)"] = per_update
    rows["the rest: G/T update and per-step overhead (n_critic 1 minus one energy update)"] = (
        ms["ncritic1"] - per_update)
  if "nopenalty" in ms:
    rows["score penalty's double backward, all energy updates (full - nopenalty)"] = (
        full - ms["nopenalty"])
  if "nocallbacks" in ms:
    rows["train.py's callbacks incl. per-step host sync (full - nocallbacks)"] = (
        full - ms["nocallbacks"])
  if "constdata" in ms:
    rows["input pipeline (full - constdata)"] = full - ms["constdata"]
  if "ema" in ms:
    rows["weight average update (ema - full)"] = ms["ema"] - full
  for name in ms:
    if name.startswith("spe"):
      rows[f"per-call overhead saved by --steps_per_execution={name[3:]} (full - {name})"] = (
          full - ms[name])
  return rows


def table_rows(report):
  """[(what, engan-tf steps/s 'median (min-max)', PyTorch, ratio)] for bench tables."""
  torch = report.get("torch")
  rows = []
  for name, v in report["variants"].items():
    ratio = v.get("ratio_vs_torch")
    rows.append((f"step, {name}", f"{v['median']:.2f} ({v['min']:.2f}-{v['max']:.2f})",
                 f"{torch['median']:.2f} ({torch['min']:.2f}-{torch['max']:.2f})" if torch
                 else "-", f"{ratio['of_medians']:.2f} (per round {ratio['per_round_median']:.2f})"
                 if ratio else "-"))
  return rows


def print_report(report):
  print(machine.line() + f"; {report['threads']} thread(s); TF {report['tensorflow']}"
        + (f", torch {report['torch']['version']}" if "torch" in report else ""))
  print(f"{report['flagfile']} {' '.join(report['flags'])}: {report['rounds']} rounds x "
        f"{report['epochs_per_block']} samples of {report['steps_per_sample']} steps")
  if "torch_bf16" in report:
    t = report["torch_bf16"]
    print(f"PyTorch bfloat16 autocast step: {t['median']:.2f} ({t['min']:.2f}-{t['max']:.2f}) "
          "steps/s")
  print("| what | engan-tf steps/s median (min-max) | PyTorch steps/s | ratio | warm-up s |")
  print("|---|---|---|---|---|")
  for (what, tf_rate, torch_rate, ratio), v in zip(table_rows(report),
                                                   report["variants"].values()):
    print(f"| {what} | {tf_rate} | {torch_rate} | {ratio} | {v['warmup_s']:.1f} |")
  if report["profile_ms_per_step"]:
    print("| profile (differences of medians) | ms per generator step |\n|---|---|")
    for what, value in report["profile_ms_per_step"].items():
      print(f"| {what} | {value:.1f} |")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--flagfile", default="configs/toy_25gaussians_paper.cfg")
  parser.add_argument("--variants", default=DEFAULT_VARIANTS)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--epochs", type=int, default=1, help="timed epochs per block")
  parser.add_argument("--steps", type=int, default=100, help="generator steps per epoch")
  parser.add_argument("--threads", type=int, default=1)
  parser.add_argument("--no_torch", action="store_true")
  parser.add_argument("--torch_bf16", action="store_true",
                      help="also time the PyTorch step under bfloat16 autocast")
  parser.add_argument("--output", default=os.path.join(HERE, "results", "toy_step_speed.json"))
  args, args.flags = parser.parse_known_args()
  report = measure(args)
  os.makedirs(os.path.dirname(args.output), exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(report, f, indent=2)
  print_report(report)
  print(f"written to {args.output}")


if __name__ == "__main__":
  main()
