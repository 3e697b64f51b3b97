"""Inception Score and Frechet Inception Distance (paper Table 2).

(Longer than 300 lines by choice: the two scores share the image pipeline and the command.)

  IS  = exp( E_x KL(p(y|x) || p(y)) ),  p(y|x) = softmax(logits(x)), p(y) = mean_x p(y|x);
        computed on `splits` (10) disjoint parts of the samples: mean and std over parts.
  FID = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))
        of the pool3 features (2048-d) of real (r) and generated (g) images.

Two networks:
  * FID, standard: with --fid_weights, the FID Inception network (the TF `inception-2015-12-05`
    graph behind published FIDs; engan_tf.metrics.fid_inception, weights converted once).
    Generated images in [-1, 1] are first quantised to uint8, round((x + 1) * 127.5) clipped
    to [0, 255] (what one would save; clean-fid's advice), and real images likewise (exact
    for data scaled by x / 127.5 - 1); then the graph's pipeline (TF1 bilinear resize to
    299, (x - 128) / 128).
  * IS (always), and FID without --fid_weights: Keras' InceptionV3 ("imagenet" weights,
    downloaded on a user's machine, or a local file via --inception_weights) on images in
    [-1, 1] resized to 299x299 (bilinear), grey tiled to RGB. It is not the graph of the
    original IS/FID code, so its scores are close to, not equal to, published ones.
The paper uses 50,000 samples.

Score a trained generator:
  python -m engan_tf.metrics.inception --model_dir=runs/cifar10 --data_dir=... \
      --inception_weights=inception_v3_weights_tf_dim_ordering_tf_kernels.h5 \
      --fid_weights=~/.engan_tf/fid_inception.weights.h5

FID of two image files (.npy, or the first array of an .npz; uint8 [n, h, w, 3]), with the
standard network (--fid_weights, default ~/.engan_tf/fid_inception.weights.h5); prints one
JSON line {"fid", "n_real", "n_fake"}:
  python -m engan_tf.metrics.inception fid --real=real.npz --fake=fake.npz

`--feature_network=random` swaps InceptionV3 for a small randomly initialised CNN, and
`--fid_weights=random` gives the FID network a fixed random initialisation: both check the
pipeline end to end where no weights are available; their numbers mean nothing.

Example (weights files, a trained model and its data: not run by the doctests):
  >>> network = inception_v3("inception_v3.h5")  # doctest: +SKIP
  >>> scores, _ = evaluate_generator(model.generator, model.latent_dim,  # doctest: +SKIP
  ...                                source.images.reference_images(250), network,
  ...                                fid_network=fid_inception.load())
  >>> fid, inception_score_mean = scores["fid"], scores["inception_score"]  # doctest: +SKIP

The two formulas in closed-form cases: the FID of N(0, I) and N((3, 4), 4 I) is
||mu_r - mu_g||^2 + Tr(I + 4 I - 2 (4 I)^(1/2)) = 25 + 2 = 27; the IS of confident
predictions spread evenly over 10 classes is 10:
  >>> round(frechet_distance(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), 4 * np.eye(2)), 6)
  27.0
  >>> logits = 100.0 * np.eye(10)[np.arange(100) % 10]
  >>> round(inception_score(logits, splits=10)[0], 6)
  10.0
"""

import collections
import io
import json
import os
import sys

import keras
import numpy as np
import scipy.linalg
import scipy.special
import tensorflow as tf

from engan_tf.metrics import fid_inception

# model: images [b, s, s, 3] in [-1, 1] -> (pool features [b, d], logits [b, classes]).
FeatureNetwork = collections.namedtuple("FeatureNetwork", ["model", "image_size"])


def gaussian_statistics(features):
  """(mean [d], covariance [d, d]) of features [n, d], in float64."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"need features [n >= 2, d], got shape {features.shape}")
  return features.mean(0), np.cov(features, rowvar=False)


def _psd_sqrt(sigma):
  """Symmetric square root of a covariance (round-off negative eigenvalues clipped to 0)."""
  eig, vec = np.linalg.eigh(sigma)
  return (vec * np.sqrt(np.clip(eig, 0.0, None))) @ vec.T


def frechet_distance(mu1, sigma1, mu2, sigma2):
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

  Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2) = sum_i sqrt(l_i), l = eigenvalues of the
  symmetric PSD matrix S1^(1/2) S2 S1^(1/2) (S1 S2 is similar to it). Two symmetric
  eigendecompositions are exact, fast (seconds at d = 2048, where scipy.linalg.sqrtm of the
  non-symmetric S1 S2 takes tens of seconds on one core) and stay stable for singular
  covariances (fewer samples than dimensions), which the reference code (Heusel et al.
  2017) patches with eps I; round-off negative eigenvalues are clipped to 0.
  """
  mu1, mu2 = np.atleast_1d(np.float64(mu1)), np.atleast_1d(np.float64(mu2))
  sigma1, sigma2 = np.atleast_2d(np.float64(sigma1)), np.atleast_2d(np.float64(sigma2))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f"mismatched statistics: {mu1.shape} vs {mu2.shape}, "
                     f"{sigma1.shape} vs {sigma2.shape}")
  root1 = _psd_sqrt(sigma1)
  middle = root1 @ sigma2 @ root1
  eig = np.linalg.eigvalsh((middle + middle.T) / 2)  # symmetric up to round-off
  trace_covmean = np.sum(np.sqrt(np.clip(eig, 0.0, None)))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def fid_of_features(features1, features2):
  """FID of two feature sets [n1, d] and [n2, d] (their Gaussian statistics), in float64.

  With few samples (n1 n2 < d^2, e.g. a quick check) it avoids the d x d algebra: with the
  centred features X_i and S_i = X_i^T X_i / (n_i - 1), the nonzero eigenvalues of S1 S2 are
  the squared singular values of X1 X2^T / sqrt((n1 - 1)(n2 - 1)), so
  Tr (S1 S2)^(1/2) = ||X1 X2^T||_* / sqrt((n1 - 1)(n2 - 1)) (nuclear norm), exactly. Else
  frechet_distance of the statistics.
  """
  x1, x2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
  (n1, d), n2 = x1.shape, len(x2)
  if n1 * n2 >= d * d:
    return frechet_distance(*gaussian_statistics(x1), *gaussian_statistics(x2))
  mu1, mu2 = gaussian_statistics(x1)[0], gaussian_statistics(x2)[0]
  c1, c2 = x1 - mu1, x2 - mu2
  trace_covmean = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
  diff = mu1 - mu2
  return float(diff @ diff + np.sum(c1 ** 2) / (n1 - 1) + np.sum(c2 ** 2) / (n2 - 1)
               - 2.0 * trace_covmean)


def inception_score(logits, splits=10):
  """(mean, std) over `splits` parts of exp(E KL(p(y|x) || p(y))), from logits [n, classes]."""
  logits = np.asarray(logits, np.float64)
  if len(logits) < splits:
    raise ValueError(f"need at least {splits} samples for {splits} splits, got {len(logits)}")
  log_p = logits - scipy.special.logsumexp(logits, axis=1, keepdims=True)
  scores = []
  for part in np.array_split(log_p, splits):
    log_marginal = scipy.special.logsumexp(part, axis=0) - np.log(len(part))
    kl = np.sum(np.exp(part) * (part - log_marginal), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def inception_v3(weights="imagenet"):
  """Keras InceptionV3 as a FeatureNetwork: pool3 (avg_pool, 2048) and pre-softmax logits.

  `weights`: "imagenet" (Keras downloads them), a path to the .h5/.weights.h5 file of
  include_top=True InceptionV3, or None (random: for tests of the wiring only).
  """
  if weights not in (None, "imagenet") and not tf.io.gfile.exists(weights):
    raise FileNotFoundError(f"--inception_weights={weights!r} does not exist")
  base = keras.applications.InceptionV3(include_top=True, weights=weights,
                                        classifier_activation=None)
  model = keras.Model(base.input, [base.get_layer("avg_pool").output, base.output],
                      name="inception_v3_features")
  return FeatureNetwork(model, 299)


def random_feature_network(seed=0, image_size=32, feature_dim=64, num_classes=10):
  """A small randomly initialised CNN with the FeatureNetwork interface (a stand-in)."""
  keras.utils.set_random_seed(seed)
  x = keras.Input((image_size, image_size, 3))
  h = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
  h = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(h)
  pool = keras.layers.Dense(feature_dim, activation="relu")(keras.layers.GlobalAveragePooling2D()(h))
  logits = keras.layers.Dense(num_classes)(pool)
  return FeatureNetwork(keras.Model(x, [pool, logits], name="random_features"), image_size)


def prepare(images, image_size):
  """[b, h, w, c] in [-1, 1] -> [b, image_size, image_size, 3] (bilinear, grey -> RGB)."""
  images = tf.convert_to_tensor(images, tf.float32)
  if images.shape[-1] == 1:
    images = tf.tile(images, [1, 1, 1, 3])
  elif images.shape[-1] != 3:
    raise ValueError(f"IS/FID need 1- or 3-channel images, got {images.shape[-1]} channels")
  images = tf.image.resize(images, [image_size, image_size], method="bilinear")
  return tf.clip_by_value(images, -1.0, 1.0)


def _passes(forwards, batches, num_samples):
  """Runs every forward (batch -> tuple of tensors) on the first num_samples images.

  One pass over `batches`, so a generator's samples are drawn once for all networks.
  Returns, per forward, the tuple of its outputs concatenated over batches (numpy).
  """
  outputs, n = [[] for _ in forwards], 0
  for batch in batches:
    batch = batch[:num_samples - n]
    for out, forward in zip(outputs, forwards):
      out.append([t.numpy() for t in forward(batch)])
    n += len(outputs[0][-1][0])
    if n >= num_samples:
      break
  if n < num_samples:
    raise ValueError(f"asked for {num_samples} images, the source has only {n}")
  return [tuple(np.concatenate(parts) for parts in zip(*out)) for out in outputs]


def _is_forward(network):
  return tf.function(lambda x: network.model(prepare(x, network.image_size), training=False))


def _fid_forward(fid_model):
  """Images in [-1, 1] -> (pool3 of the FID Inception network on the uint8-quantised images,)."""
  features = fid_inception.feature_fn(fid_model)
  return lambda x: (features(fid_inception.quantize(x)),)


def activations(network, batches, num_samples):
  """(pool [n, d], logits [n, k]) of the first num_samples images of an iterable of batches."""
  return _passes([_is_forward(network)], batches, num_samples)[0]


def generator_batches(generator, latent_dim, batch_size, seed=0):
  """Endless batches of generator samples from a fixed latent stream."""
  i = 0
  while True:
    z = tf.random.stateless_normal([batch_size, latent_dim], [seed, i])
    yield generator(z, training=False)
    i += 1


def evaluate_generator(generator, latent_dim, reference_batches, network, num_samples=50_000,
                       batch_size=250, reference_stats=None, splits=10, fid_network=None):
  """{"inception_score", "inception_score_std", "fid"} of `num_samples` generated images.

  reference_batches: batches of real images in [-1, 1] (the FID reference), or None when
  `reference_stats` = (mu, sigma) are given (e.g. cached). fid_network: the FID Inception
  Keras model (fid_inception.load) for the standard FID, on uint8-quantised images; None:
  FID from `network`'s pool features. IS always comes from `network`.
  """
  forwards = [_is_forward(network)]
  if fid_network is not None:
    forwards.append(_fid_forward(fid_network))
  outputs = _passes(forwards, generator_batches(generator, latent_dim, batch_size), num_samples)
  (pool, logits), fid_pool = outputs[0], outputs[-1][0]
  if reference_stats is None:
    real_pool = _passes(forwards[-1:], reference_batches, num_samples)[0][0]
    reference_stats = gaussian_statistics(real_pool)
  is_mean, is_std = inception_score(logits, splits)
  fid = frechet_distance(*gaussian_statistics(fid_pool), *reference_stats)
  return {"inception_score": is_mean, "inception_score_std": is_std, "fid": fid,
          "num_samples": num_samples}, reference_stats


def load_images(path):
  """uint8 images [n, h, w, c] from a .npy, or the first array of an .npz (tf.io.gfile)."""
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"{path!r} does not exist")
  with tf.io.gfile.GFile(path, "rb") as f:
    data = np.load(io.BytesIO(f.read()))
  if isinstance(data, np.lib.npyio.NpzFile):
    if not data.files:
      raise ValueError(f"{path!r} holds no arrays")
    data = data[data.files[0]]
  if data.dtype != np.uint8 or data.ndim != 4 or data.shape[-1] not in (1, 3):
    raise ValueError(f"{path!r}: need uint8 images [n, h, w, 3] (or 1 channel), got "
                     f"{data.dtype} {data.shape}; quantise floats in [-1, 1] with "
                     "np.clip(np.round((x + 1) * 127.5), 0, 255).astype(np.uint8)")
  return data


def fid_of_files(real, fake, fid_weights=None, batch_size=50, model=None):
  """{"fid", "n_real", "n_fake"}: standard FID of two uint8 image files (see load_images).

  model: the FID network if already loaded, else fid_inception.load(fid_weights).
  """
  real_images, fake_images = load_images(real), load_images(fake)
  model = fid_inception.load(fid_weights) if model is None else model
  fid = fid_of_features(*(fid_inception.features(model, x, batch_size)
                          for x in (real_images, fake_images)))
  return {"fid": fid, "n_real": len(real_images), "n_fake": len(fake_images)}


def fid_main(f):
  if not f.real or not f.fake:
    raise ValueError("the fid command needs --real=A.npz and --fake=B.npz (uint8 [n, h, w, 3])")
  print(json.dumps(fid_of_files(f.real, f.fake, f.fid_weights, f.fid_batch_size)))


def main(argv):
  from absl import flags
  from engan_tf import training
  f = flags.FLAGS
  if argv[1:] == ["fid"]:
    return fid_main(f)
  if argv[1:]:
    raise ValueError(f"unknown command {argv[1:]}: use `fid`, or no command with --model_dir")
  if not f.model_dir:
    raise ValueError("--model_dir is required (or use the `fid` command on two image files)")
  config, source, model, _ = training.restore(f.model_dir, data_dir=f.data_dir)
  if f.feature_network == "random":
    network = random_feature_network()
  else:
    network = inception_v3(f.inception_weights or "imagenet")
  # The standard FID only when asked for: scores stay comparable with earlier runs.
  fid_network = fid_inception.load(f.fid_weights) if f.fid_weights else None
  fid_name = ("fid_inception" + ("_random" if f.fid_weights == fid_inception.RANDOM else "")
              if fid_network is not None else f.feature_network)
  reference_stats = None
  cache = os.path.join(f.model_dir, f"fid_reference_{fid_name}_{f.num_samples}.npz")
  if tf.io.gfile.exists(cache):  # through gfile, as every file here: gs:// model_dirs
    with tf.io.gfile.GFile(cache, "rb") as stored, np.load(io.BytesIO(stored.read())) as stats:
      reference_stats = (stats["mu"], stats["sigma"])
  scores, reference_stats = evaluate_generator(
      model.generator, model.latent_dim, source.images.reference_images(f.batch_size),
      network, f.num_samples, f.batch_size, reference_stats, fid_network=fid_network)
  buffer = io.BytesIO()
  np.savez(buffer, mu=reference_stats[0], sigma=reference_stats[1])
  with tf.io.gfile.GFile(cache, "wb") as stored:
    stored.write(buffer.getvalue())
  scores.update(feature_network=f.feature_network, fid_network=fid_name, dataset=config.dataset,
                step=int(model.g_optimizer.iterations.numpy()))
  output = f.output or os.path.join(f.model_dir, "inception_scores.json")
  with tf.io.gfile.GFile(output, "w") as out:
    json.dump(scores, out, indent=2, sort_keys=True)
  print(f"IS = {scores['inception_score']:.3f} +- {scores['inception_score_std']:.3f}, "
        f"FID = {scores['fid']:.3f} ({f.num_samples} samples, IS: {f.feature_network}, "
        f"FID: {fid_name}); -> {output}")


if __name__ == "__main__":
  from absl import app
  from absl import flags
  flags.DEFINE_string("model_dir", None, "A model_dir written by train.py (scores its generator).")
  flags.DEFINE_string("data_dir", None, "The data set's files (default: the run's --data_dir).")
  flags.DEFINE_integer("num_samples", 50_000, "Generated (and real) images to score.")
  flags.DEFINE_integer("batch_size", 250, "Images per forward pass.")
  flags.DEFINE_string("inception_weights", None, "InceptionV3 weights file (include_top=True); "
                      "default: Keras downloads the ImageNet weights.")
  flags.DEFINE_enum("feature_network", "inception_v3", ["inception_v3", "random"],
                    "random: a small random CNN stand-in, to test the pipeline without weights.")
  flags.DEFINE_string("output", None, "JSON output (default: model_dir/inception_scores.json).")
  flags.DEFINE_string("fid_weights", None,
                      "FID Inception weights (python -m engan_tf.metrics.fid_inception convert). "
                      "Scoring a generator: the standard FID only with this flag. `fid` command: "
                      f"default {fid_inception.DEFAULT_WEIGHTS}. 'random': random weights, for "
                      "tests only (meaningless FIDs).")
  flags.DEFINE_string("real", None, "fid command: real images, .npy/.npz uint8 [n, h, w, 3].")
  flags.DEFINE_string("fake", None, "fid command: generated images, same format.")
  flags.DEFINE_integer("fid_batch_size", 50, "fid command: images per forward pass.")
  try:
    app.run(main)
  except (ValueError, FileNotFoundError) as e:
    print(f"inception: error: {e}", file=sys.stderr)
    sys.exit(2)
