"""What the float16 copy of the FID Inception weights changes in the FID (issue 18, part 3).

The accelerator run carries `fid_inception.half`'s copy of the converted weights (41 MB
instead of 88: the device machine receives at most 64 MiB). This measures, on CPU, both
weight files through the same pipeline (fid_inception.features, batch 32) on the
CIFAR-10 slice: pool3 feature differences, FID(train, test) with each, and the FID between
the float16 and float32 features of the same images.

  python -m engan_tf.metrics.fid_inception half --weights=/tmp/fidw/fid_inception.weights.h5 \
      --output=/tmp/accel/fid_inception_fp16.weights.h5
  python bench/fid_fp16.py --fp32_weights=/tmp/fidw/fid_inception.weights.h5 \
      --fp16_weights=/tmp/accel/fid_inception_fp16.weights.h5 --data_dir=../shared/data \
      --fp32_cache=/tmp/fidw/parity_cache --cache_dir=/tmp/accel/fp16_cache --train_images=1000

--fp32_cache: bench/fid_parity.py's cache (its b_keras_* chunks, the same pipeline and
batch size), used where present; the first 64 test images are recomputed with the float32
weights to check that cache. Features are cached in 500-image chunks (a killed run resumes).
Writes bench/results/fid_fp16.json and prints it.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from engan_tf.metrics import fid_inception  # noqa: E402
from engan_tf.metrics import inception  # noqa: E402

BATCH = 32  # bench/fid_parity.py's


def chunked(cache_dir, name, fn, images, chunk=500):
  """fn over images in 500-image chunks, each kept in cache_dir/name_START_END.npy."""
  out = []
  for i in range(0, len(images), chunk):
    path = cache_dir and os.path.join(cache_dir, f"{name}_{i:05d}_{min(i + chunk, len(images))}.npy")
    if path and os.path.exists(path):
      out.append(np.load(path))
      continue
    t = time.time()
    out.append(fn(images[i:i + chunk]))
    if path:
      np.save(path + ".tmp.npy", out[-1])
      os.replace(path + ".tmp.npy", path)
    print(f"{name} {i}: {time.time() - t:.0f} s", flush=True)
  return np.concatenate(out)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--fp32_weights", required=True)
  p.add_argument("--fp16_weights", required=True)
  p.add_argument("--data_dir", required=True, help="holds cifar10-subset/ (or the .npz itself)")
  p.add_argument("--train_images", type=int, default=4000, help="first N train images")
  p.add_argument("--fp32_cache", default=None, help="bench/fid_parity.py's --cache_dir")
  p.add_argument("--cache_dir", default=None, help="the float16 features, kept here")
  p.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results", "fid_fp16.json"))
  args = p.parse_args()
  for d in (args.cache_dir, args.fp32_cache):
    if d:
      os.makedirs(d, exist_ok=True)
  path = os.path.join(args.data_dir, "cifar10-subset", "cifar10_lossless_subset.npz")
  if not os.path.exists(path):
    path = os.path.join(args.data_dir, "cifar10_lossless_subset.npz")
  with np.load(path) as d:
    train, test = d["train_images"][:args.train_images], d["test_images"]

  start = time.time()
  model16 = fid_inception.load(args.fp16_weights)
  model32 = fid_inception.load(args.fp32_weights)
  kernels = [(a.numpy(), b.numpy()) for a, b in zip(model32.weights, model16.weights)
             if len(a.shape) == 4]
  weights_exact = all(np.array_equal(b, a.astype(np.float16).astype(np.float32))
                      for a, b in kernels)
  f32 = lambda x: fid_inception.features(model32, x, BATCH)
  f16 = lambda x: fid_inception.features(model16, x, BATCH)
  # The float32 cache is bench/fid_parity.py's: check it on the first 64 test images.
  test32 = chunked(args.fp32_cache, "b_keras_test", f32, test)
  cache_check = float(np.abs(f32(test[:64]) - test32[:64]).max())
  test16 = chunked(args.cache_dir, "b_keras16_test", f16, test)
  train32 = chunked(args.fp32_cache, "b_keras_train", f32, train)
  train16 = chunked(args.cache_dir, "b_keras16_train", f16, train)

  fid32 = inception.fid_of_features(train32, test32)
  fid16 = inception.fid_of_features(train16, test16)
  both32, both16 = np.concatenate([train32, test32]), np.concatenate([train16, test16])
  diff = np.abs(both16 - both32)
  result = {
      "n_train": len(train), "n_test": len(test), "batch_size": BATCH,
      "fp32_weights": args.fp32_weights, "fp16_weights": args.fp16_weights,
      "fp16_bytes": os.path.getsize(args.fp16_weights),
      "fp32_bytes": os.path.getsize(args.fp32_weights),
      "fp16_kernels_are_the_rounded_fp32_kernels": bool(weights_exact),
      "fp32_cache_check_max_abs_diff": cache_check,
      "feature_max_abs_diff": float(diff.max()), "feature_mean_abs_diff": float(diff.mean()),
      "feature_mean_abs": float(np.abs(both32).mean()),
      "fid_train_test_fp32": fid32, "fid_train_test_fp16": fid16,
      "fid_relative_diff": abs(fid16 - fid32) / fid32,
      "fid_fp16_vs_fp32_same_images": inception.fid_of_features(both16, both32),
      "tensorflow": tf.__version__, "seconds": round(time.time() - start, 1),
      "command": " ".join(sys.argv),
  }
  with open(args.output, "w") as out:
    json.dump(result, out, indent=2)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
