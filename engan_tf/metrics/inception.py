"""Inception Score and Frechet Inception Distance (paper Table 2), with Keras' InceptionV3.

  IS  = exp( E_x KL(p(y|x) || p(y)) ),  p(y|x) = softmax(logits(x)), p(y) = mean_x p(y|x);
        computed on `splits` (10) disjoint parts of the samples: mean and std over parts.
  FID = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))
        of the pool3 features (2048-d) of real (r) and generated (g) images.

Images in [-1, 1] (the generators' and data sets' scale, which is also InceptionV3's input
scale) are resized to 299x299 (bilinear), grey images tiled to RGB, and fed in batches;
the paper uses 50,000 samples. Keras' InceptionV3 ("imagenet" weights, downloaded on a
user's machine, or a local file via --inception_weights) is not bit-identical to the
TF-slim graph of the original IS/FID code, so scores are close to, not equal to, the
published ones.

  python -m engan_tf.metrics.inception --model_dir=runs/cifar10 --data_dir=... \
      --inception_weights=inception_v3_weights_tf_dim_ordering_tf_kernels.h5

`--feature_network=random` swaps InceptionV3 for a small randomly initialised CNN: it
checks the pipeline end to end where no weights are available; its numbers mean nothing.

Example:
  >>> network = inception_v3("inception_v3.h5")
  >>> scores = evaluate_generator(model.generator, model.latent_dim,
  ...                             source.images.reference_images(250), network)
  >>> scores["fid"], scores["inception_score"]
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

# model: images [b, s, s, 3] in [-1, 1] -> (pool features [b, d], logits [b, classes]).
FeatureNetwork = collections.namedtuple("FeatureNetwork", ["model", "image_size"])


def gaussian_statistics(features):
  """(mean [d], covariance [d, d]) of features [n, d], in float64."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"need features [n >= 2, d], got shape {features.shape}")
  return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

  A singular product sigma1 sigma2 (e.g. fewer samples than dimensions) gets eps I added
  to both covariances, as in the reference implementation (Heusel et al. 2017).
  """
  mu1, mu2 = np.atleast_1d(np.float64(mu1)), np.atleast_1d(np.float64(mu2))
  sigma1, sigma2 = np.atleast_2d(np.float64(sigma1)), np.atleast_2d(np.float64(sigma2))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f"mismatched statistics: {mu1.shape} vs {mu2.shape}, "
                     f"{sigma1.shape} vs {sigma2.shape}")
  covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():
    offset = np.eye(len(sigma1)) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  covmean = np.real(covmean)  # tiny imaginary parts are round-off
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


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


def activations(network, batches, num_samples):
  """(pool [n, d], logits [n, k]) of the first num_samples images of an iterable of batches."""
  forward = tf.function(lambda x: network.model(prepare(x, network.image_size), training=False))
  pools, logits, n = [], [], 0
  for batch in batches:
    batch = batch[:num_samples - n]
    pool, logit = forward(batch)
    pools.append(pool.numpy())
    logits.append(logit.numpy())
    n += len(pools[-1])
    if n >= num_samples:
      break
  if n < num_samples:
    raise ValueError(f"asked for {num_samples} images, the source has only {n}")
  return np.concatenate(pools), np.concatenate(logits)


def generator_batches(generator, latent_dim, batch_size, seed=0):
  """Endless batches of generator samples from a fixed latent stream."""
  i = 0
  while True:
    z = tf.random.stateless_normal([batch_size, latent_dim], [seed, i])
    yield generator(z, training=False)
    i += 1


def evaluate_generator(generator, latent_dim, reference_batches, network, num_samples=50_000,
                       batch_size=250, reference_stats=None, splits=10):
  """{"inception_score", "inception_score_std", "fid"} of `num_samples` generated images.

  reference_batches: batches of real images in [-1, 1] (the FID reference), or None when
  `reference_stats` = (mu, sigma) are given (e.g. cached).
  """
  pool, logits = activations(network, generator_batches(generator, latent_dim, batch_size),
                             num_samples)
  if reference_stats is None:
    real_pool, _ = activations(network, reference_batches, num_samples)
    reference_stats = gaussian_statistics(real_pool)
  is_mean, is_std = inception_score(logits, splits)
  fid = frechet_distance(*gaussian_statistics(pool), *reference_stats)
  return {"inception_score": is_mean, "inception_score_std": is_std, "fid": fid,
          "num_samples": num_samples}, reference_stats


def main(argv):
  del argv
  from absl import flags
  from engan_tf import training
  f = flags.FLAGS
  config, source, model, _ = training.restore(f.model_dir, data_dir=f.data_dir)
  if f.feature_network == "random":
    network = random_feature_network()
  else:
    network = inception_v3(f.inception_weights or "imagenet")
  reference_stats = None
  cache = os.path.join(f.model_dir, f"fid_reference_{f.feature_network}_{f.num_samples}.npz")
  if tf.io.gfile.exists(cache):  # through gfile, as every file here: gs:// model_dirs
    with tf.io.gfile.GFile(cache, "rb") as stored, np.load(io.BytesIO(stored.read())) as stats:
      reference_stats = (stats["mu"], stats["sigma"])
  scores, reference_stats = evaluate_generator(
      model.generator, model.latent_dim, source.images.reference_images(f.batch_size),
      network, f.num_samples, f.batch_size, reference_stats)
  buffer = io.BytesIO()
  np.savez(buffer, mu=reference_stats[0], sigma=reference_stats[1])
  with tf.io.gfile.GFile(cache, "wb") as stored:
    stored.write(buffer.getvalue())
  scores.update(feature_network=f.feature_network, dataset=config.dataset,
                step=int(model.g_optimizer.iterations.numpy()))
  output = f.output or os.path.join(f.model_dir, "inception_scores.json")
  with tf.io.gfile.GFile(output, "w") as out:
    json.dump(scores, out, indent=2, sort_keys=True)
  print(f"IS = {scores['inception_score']:.3f} +- {scores['inception_score_std']:.3f}, "
        f"FID = {scores['fid']:.3f} ({f.num_samples} samples, {f.feature_network}); -> {output}")


if __name__ == "__main__":
  from absl import app
  from absl import flags
  flags.DEFINE_string("model_dir", None, "A model_dir written by train.py.", required=True)
  flags.DEFINE_string("data_dir", None, "The data set's files (default: the run's --data_dir).")
  flags.DEFINE_integer("num_samples", 50_000, "Generated (and real) images to score.")
  flags.DEFINE_integer("batch_size", 250, "Images per forward pass.")
  flags.DEFINE_string("inception_weights", None, "InceptionV3 weights file (include_top=True); "
                      "default: Keras downloads the ImageNet weights.")
  flags.DEFINE_enum("feature_network", "inception_v3", ["inception_v3", "random"],
                    "random: a small random CNN stand-in, to test the pipeline without weights.")
  flags.DEFINE_string("output", None, "JSON output (default: model_dir/inception_scores.json).")
  try:
    app.run(main)
  except (ValueError, FileNotFoundError) as e:
    print(f"inception: error: {e}", file=sys.stderr)
    sys.exit(2)
