"""The accelerator run of issue 18: CIFAR-10 for a fixed time, then the standard FID; ONE JSON line.

Run through bench/accelerator_cifar10.sh (which sets PYTHONPATH and the environment):

  bench/accelerator_cifar10.sh [--minutes=5] [--num_samples=10000] [--num_real=0]
      [--fid_weights=PATH] [--data_dir=DIR] [--model_dir=DIR] [--output=FILE] [-- TRAIN_FLAGS]
  bench/accelerator_cifar10.sh prepare --fp32_weights=PATH [--data_dir=DIR]

What it does (nothing is installed or downloaded):
  1. checks that TensorFlow, Keras and the project import, and that TensorFlow sees the GPU
     when nvidia-smi lists one (else one JSON line with "error", exit 3: no device time is
     spent on a CPU-only run by mistake; --allow_cpu runs anyway);
  2. trains `python train.py --flagfile=configs/cifar10.cfg` (the paper's networks: sngan32,
     dim 64, batch 64, n_critic 5) on --data_dir with --max_train_minutes=MINUTES, in a
     fresh --model_dir (train.py's log goes to model_dir/train.log);
  3. FID with the standard network (engan_tf.metrics.fid_inception, --fid_weights) of
     --num_samples generated images (quantised to uint8) against the real training images
     of the data (all of them, or the first --num_real), TF32 off for the FID pass;
  4. prints one JSON line (also written to --output): generator steps, steps/s, minutes,
     FID, sample counts, device, FID weights (path, sha256, float16 or float32 kernels).

Data (TFDS-free): --data_dir holding cifar10_lossless_subset.npz (the exact 4,000 + 1,000
image slice; or DIR/cifar10-subset/), default .accel/data, then ../shared/data. A
prepared TFDS cifar10 directory (the full set) works too: train.py reads it without
downloading. FID weights: default .accel/fid_inception_fp16.weights.h5, then
~/.engan_tf/fid_inception.weights.h5.

`prepare` fills .accel/ (git-ignored; a device run carries it: the device machine receives
only the working tree, at most 64 MiB with the carried paths) with the float16 copy of the
converted weights (41 MB; fid_inception.half) and the slice (14 MB), and prints the size
that would travel.

Budget on one H200 (16 cores), default arguments, estimated (not yet run on one): about
20 s of start-up, 5 min of training (XLA compilation included: the deadline counts from
the callback's construction), ~15 s of final checkpoint and evaluation, ~1 min for the FID
of 10,000 + 4,000 images: about 7 min, under the 9 allowed. The H200 image this workplace
lends has no TensorFlow (PyTorch and JAX only): there the pre-flight stops it (exit 3).
"""

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCEL = os.path.join(ROOT, ".accel")
FP16_NAME = "fid_inception_fp16.weights.h5"
SLICE = "cifar10_lossless_subset.npz"
CARRY_LIMIT = 64 * 2 ** 20
NEEDED = ("numpy", "scipy", "h5py", "absl", "PIL", "tensorflow", "keras", "tensorflow_probability")


def emit(record, output=None, code=0):
  """Prints the one JSON line (and writes it to `output`), then exits with `code`."""
  line = json.dumps(record, sort_keys=True)
  if output:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
      f.write(line + "\n")
  print(line, flush=True)
  sys.exit(code)


def log(message):
  print(f"[accelerator_cifar10 {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr,
        flush=True)


def nvidia_gpus():
  """GPU names from nvidia-smi ([] without one)."""
  if shutil.which("nvidia-smi") is None:
    return []
  try:
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                          "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return []
  return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def default_data_dir():
  for d in (os.path.join(ACCEL, "data"), os.path.join(ROOT, "shared", "data"),
            os.path.join(os.path.dirname(ROOT), "shared", "data")):
    if os.path.isdir(d):
      return d
  return os.path.join(ACCEL, "data")


def find_slice(data_dir):
  for d in (data_dir, os.path.join(data_dir, "cifar10-subset")):
    if os.path.exists(os.path.join(d, SLICE)):
      return os.path.join(d, SLICE)
  return None


def default_fid_weights():
  local = os.path.join(ACCEL, FP16_NAME)
  return local if os.path.exists(local) else os.path.expanduser(
      os.path.join("~", ".engan_tf", "fid_inception.weights.h5"))


def tree_bytes():
  """Bytes of what a device run sends besides carried paths: tracked + untracked-not-ignored."""
  try:
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], capture_output=True, timeout=60).stdout
  except (OSError, subprocess.TimeoutExpired):
    return None
  names = [n for n in out.decode().split("\0") if n]
  return sum(os.path.getsize(os.path.join(ROOT, n)) for n in names
             if os.path.isfile(os.path.join(ROOT, n)))


def prepare(args):
  """Fills .accel/ with the float16 FID weights and the CIFAR-10 slice."""
  from engan_tf.metrics import fid_inception
  os.makedirs(os.path.join(ACCEL, "data", "cifar10-subset"), exist_ok=True)
  weights = os.path.join(ACCEL, FP16_NAME)
  result = fid_inception.half(args.fp32_weights, weights)
  data = find_slice(args.data_dir or os.path.join(os.path.dirname(ROOT), "shared", "data"))
  if data is None:
    raise FileNotFoundError(f"no {SLICE} in --data_dir={args.data_dir!r} (or its cifar10-subset/)")
  slice_copy = os.path.join(ACCEL, "data", "cifar10-subset", SLICE)
  shutil.copyfile(data, slice_copy)
  carried = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ACCEL) for f in fs)
  tree = tree_bytes() or 0
  print(json.dumps({"fid_weights": weights, "fid_weights_bytes": result["bytes"],
                    "max_abs_kernel_rounding": result["max_abs_rounding"],
                    "data": slice_copy, "carried_bytes": carried, "tree_bytes": tree,
                    "total_bytes": carried + tree, "limit_bytes": CARRY_LIMIT,
                    "fits": carried + tree < CARRY_LIMIT}))


def steps_per_second(tensorboard_dir):
  """train/steps_per_second per epoch (TrainSummaries), [(step, value)], from the events."""
  import tensorflow as tf
  points = []
  paths = [os.path.join(d, f) for d, _, files in os.walk(tensorboard_dir) for f in files
           if f.startswith("events.out.")]
  for path in sorted(paths):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag == "train/steps_per_second":
          points.append((int(event.step), float(tf.make_ndarray(value.tensor))))
  return sorted(set(points))


def fid(model_dir, data_dir, fid_weights, num_samples, num_real, batch_size, seed):
  """(FID, real count, seconds) of the run's generator with the standard network."""
  import numpy as np
  from engan_tf import training
  from engan_tf.metrics import fid_inception
  from engan_tf.metrics import inception
  start = time.time()
  _, source, model, _ = training.restore(model_dir, data_dir=data_dir)
  network = fid_inception.load(fid_weights)
  forward = fid_inception.feature_fn(network)  # uint8-range images -> pool3

  def pool3(batches, limit):
    """Features of the first `limit` images (0: all) of batches in [-1, 1], as uint8."""
    out, n = [], 0
    for batch in batches:
      if limit and n >= limit:
        break
      batch = batch[:limit - n] if limit else batch
      out.append(forward(fid_inception.quantize(batch)).numpy())
      n += len(out[-1])
    return np.concatenate(out)

  real = pool3(source.images.reference_images(batch_size), num_real)
  fake = pool3(inception.generator_batches(model.generator, model.latent_dim, batch_size, seed),
               num_samples)
  return inception.fid_of_features(real, fake), len(real), len(fake), time.time() - start


def main():
  start = time.time()
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=__doc__.split("\n", 2)[2])
  p.add_argument("--minutes", type=float, default=5.0, help="training budget (train.py "
                 "--max_train_minutes)")
  p.add_argument("--num_samples", type=int, default=10_000, help="generated images for FID")
  p.add_argument("--num_real", type=int, default=0, help="real images for FID (0: all)")
  p.add_argument("--fid_weights", default=None, help="converted FID Inception weights "
                 f"(default: .accel/{FP16_NAME}, then ~/.engan_tf/fid_inception.weights.h5)")
  p.add_argument("--fid_batch_size", type=int, default=250)
  p.add_argument("--fid_tf32", action="store_true", help="allow TF32 in the FID pass")
  p.add_argument("--data_dir", default=None, help="the CIFAR-10 slice's folder (default: "
                 ".accel/data, then ../shared/data) or a prepared TFDS directory")
  p.add_argument("--flagfile", default=os.path.join(ROOT, "configs", "cifar10.cfg"))
  p.add_argument("--model_dir", default=None, help="a fresh directory (default: a new one "
                 "under the system's temporary directory)")
  p.add_argument("--output", default=None, help="also write the JSON line here")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--grace_s", type=float, default=180.0, help="train.py is killed after "
                 "minutes + grace_s seconds (start-up, final checkpoint and evaluation)")
  p.add_argument("--allow_cpu", action="store_true", help="run even when nvidia-smi lists a "
                 "GPU that TensorFlow cannot use")
  p.add_argument("--fp32_weights", default=None, help="prepare: the converted float32 file")
  argv = sys.argv[1:]
  train_flags = argv[argv.index("--") + 1:] if "--" in argv else []  # more train.py flags
  argv = argv[:argv.index("--")] if "--" in argv else argv
  command = argv.pop(0) if argv and argv[0] in ("run", "prepare") else "run"
  args = p.parse_args(argv)

  record = {"script": "bench/accelerator_cifar10.sh", "python": sys.executable,
            "python_version": platform.python_version()}
  gpus = nvidia_gpus()
  record["device"] = gpus[0].split(",")[0].strip() if gpus else f"CPU: {cpu_model()}"
  record["nvidia_smi"] = gpus
  missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
  if missing:
    present = [m for m in ("torch", "jax") if importlib.util.find_spec(m) is not None]
    emit({**record, "error": f"{sys.executable} lacks {', '.join(missing)}: engan-tf needs "
          "TensorFlow 2.21 and its stack (setup.py), which this machine does not have and "
          "this script does not install (no network). Install them (pip install -e .) or "
          "run where they are" + (f"; present: {', '.join(present)}" if present else "")},
         args.output, 3)
  if command == "prepare":
    if not args.fp32_weights:
      p.error("prepare needs --fp32_weights=PATH (python -m engan_tf.metrics.fid_inception "
              "convert ...)")
    return prepare(args)

  import tensorflow as tf
  record["tensorflow"] = tf.__version__
  tf_gpus = tf.config.list_physical_devices("GPU")
  record["tf_gpus"] = [d.name for d in tf_gpus]
  if gpus and not tf_gpus and not args.allow_cpu:
    emit({**record, "error": "nvidia-smi lists a GPU but TensorFlow sees none (a CPU-only "
          f"TensorFlow, or CUDA {tf.sysconfig.get_build_info().get('cuda_version')} libraries "
          "missing): nothing trained. --allow_cpu runs on the CPU anyway"}, args.output, 3)
  if tf_gpus and not gpus:
    details = tf.config.experimental.get_device_details(tf_gpus[0])
    record["device"] = details.get("device_name", "GPU")

  data_dir = os.path.abspath(args.data_dir or default_data_dir())
  data = find_slice(data_dir)
  fid_weights = os.path.abspath(os.path.expanduser(args.fid_weights or default_fid_weights()))
  if not os.path.exists(fid_weights):
    emit({**record, "error": f"no FID weights at {fid_weights}: python -m "
          "engan_tf.metrics.fid_inception convert ..., then bench/accelerator_cifar10.sh "
          "prepare --fp32_weights=PATH (or --fid_weights=PATH)"}, args.output, 3)
  import h5py
  with h5py.File(fid_weights, "r") as f:
    kinds = set()
    f.visititems(lambda name, item: kinds.add(str(item.dtype)) if isinstance(
        item, h5py.Dataset) and item.ndim == 4 else None)
  with open(fid_weights, "rb") as f:
    sha = hashlib.sha256(f.read()).hexdigest()
  model_dir = os.path.abspath(args.model_dir or tempfile.mkdtemp(prefix="engan_accel_cifar10_"))
  if os.path.exists(os.path.join(model_dir, "config.json")):
    emit({**record, "error": f"--model_dir={model_dir} holds a run: give a fresh one"},
         args.output, 3)
  os.makedirs(model_dir, exist_ok=True)
  record.update(config=os.path.relpath(args.flagfile, ROOT), data_dir=data_dir,
                data=data or "TFDS cifar10 (prepared directory)", model_dir=model_dir,
                fid_weights=fid_weights, fid_weights_sha256=sha,
                fid_weights_kernels="/".join(sorted(kinds)), train_minutes=args.minutes,
                extra_train_flags=train_flags, startup_s=round(time.time() - start, 1))

  # Training: train.py itself, as a user runs it.
  command = [sys.executable, os.path.join(ROOT, "train.py"), f"--flagfile={args.flagfile}",
             f"--data_dir={data_dir}", f"--model_dir={model_dir}",
             f"--max_train_minutes={args.minutes:g}", f"--seed={args.seed}", "--verbose=2",
             *train_flags]
  log(" ".join(command) + f"  (log: {model_dir}/train.log)")
  t = time.time()
  with open(os.path.join(model_dir, "train.log"), "w") as train_log:
    try:
      code = subprocess.run(command, stdout=train_log, stderr=subprocess.STDOUT, cwd=ROOT,
                            timeout=60 * args.minutes + args.grace_s).returncode
    except subprocess.TimeoutExpired:
      code = "timeout"
  record["train_wall_s"] = round(time.time() - t, 1)
  final_path = os.path.join(model_dir, "final_eval.json")
  if code != 0 or not os.path.exists(final_path):
    with open(os.path.join(model_dir, "train.log")) as f:
      tail = f.read()[-3000:]
    log("train.py failed; end of its log:\n" + tail)
    emit({**record, "error": f"train.py ended with {code}", "train_log_tail": tail[-600:]},
         args.output, 4)
  with open(final_path) as f:
    final = json.load(f)
  steps = int(final["step"])
  rates = steps_per_second(os.path.join(model_dir, "tensorboard"))
  # The first epoch holds XLA compilation and the last may be cut short by the deadline:
  # the steady rate is the median of the epochs between them (else the last; none when
  # training ended inside the first epoch, as on a small CPU).
  middle = [v for _, v in rates[1:-1]] or [v for _, v in rates[1:]]
  record.update(
      steps=steps, stopped_by=final.get("stopped_by", "train_steps"),
      steps_per_s=round(steps / (60 * args.minutes), 3),  # over the whole training budget
      steps_per_s_steady=(round(sorted(middle)[len(middle) // 2], 3) if middle else None),
      epoch_steps_per_s=[[s, round(v, 3)] for s, v in rates])
  log(f"trained {steps} generator steps in {record['train_wall_s']} s; FID next")

  tf.config.experimental.enable_tensor_float_32_execution(bool(args.fid_tf32))
  value, n_real, n_fake, seconds = fid(model_dir, data_dir, fid_weights, args.num_samples,
                                       args.num_real, args.fid_batch_size, args.seed)
  record.update(fid=round(value, 4), num_samples=n_fake, num_real=n_real,
                fid_tf32=bool(args.fid_tf32), fid_s=round(seconds, 1),
                total_s=round(time.time() - start, 1), total_minutes=round(
                    (time.time() - start) / 60, 2))
  emit(record, args.output, 0)


if __name__ == "__main__":
  main()
