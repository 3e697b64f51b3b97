"""Mode counting on StackedMNIST (Metz et al. 2016; Srivastava et al. 2017; paper Table 1).

Each channel of a generated 28x28xn sample is classified by a pretrained MNIST classifier
(engan_tf.metrics.mnist_classifier); the digit tuple (d_1, ..., d_n) is the sample's mode,
numbered m = sum_k d_k 10^(n-k). Over N samples (26 x 10^n in the paper) with mode
histogram q:

  modes = #{m : q(m) > 0}                         (at most 10^n)
  KL    = KL(q || uniform) = sum_{q(m)>0} q(m) log q(m) + log 10^n     (nats)

Example (the trained classifier, and a generator's samples [N, 28, 28, 3] in [-1, 1]: not
run by the doctests):
  >>> classifier = mnist_classifier.load_classifier("runs/mnist_classifier.keras")  # doctest: +SKIP
  >>> stats = mode_statistics_of_samples(classifier, samples)  # doctest: +SKIP
  >>> stats["modes"], round(stats["kl"], 2), stats["num_samples"]  # doctest: +SKIP
  (1000, 0.03, 26000)

The statistics of mode numbers, here half of the 1,000 modes hit evenly (KL = log 2):
  >>> stats = mode_statistics(np.repeat(np.arange(0, 1000, 2), 2), 1000)
  >>> stats["modes"], round(stats["kl"], 3), stats["num_samples"]
  (500, 0.693, 1000)
"""

import numpy as np

from engan_tf.data import images as images_lib
from engan_tf.metrics import mnist_classifier


def samples_per_evaluation(num_stacks):
  """26 x 10^n, the paper's number of samples (26,000 for 3 stacks, 260,000 for 4)."""
  return 26 * 10 ** num_stacks


def classify_stacks(classifier, samples, batch_size=2000):
  """[N, 28, 28, n] images in [-1, 1] -> digits [N, n]: each channel classified alone."""
  samples = np.asarray(samples, np.float32)
  if samples.ndim != 4 or samples.shape[1:3] != (28, 28):
    raise ValueError(f"StackedMNIST samples must be [N, 28, 28, n], got {samples.shape}")
  n, num_stacks = len(samples), samples.shape[-1]
  # Channel k of sample i becomes digit image i * n + k.
  channels = np.transpose(samples, (0, 3, 1, 2)).reshape(-1, 28, 28, 1)
  return mnist_classifier.predict_digits(classifier, channels, batch_size).reshape(n, num_stacks)


def mode_statistics(modes, num_modes):
  """{"modes": modes hit, "kl": KL(histogram || uniform)} of mode numbers [N]."""
  modes = np.asarray(modes, np.int64)
  if modes.size == 0:
    raise ValueError("no samples to count modes of")
  if modes.min() < 0 or modes.max() >= num_modes:
    raise ValueError(f"mode numbers must lie in [0, {num_modes}), got [{modes.min()}, "
                     f"{modes.max()}]")
  q = np.bincount(modes, minlength=num_modes).astype(np.float64) / modes.size
  hit = q > 0
  kl = float(np.sum(q[hit] * np.log(q[hit])) + np.log(num_modes))
  return {"modes": int(hit.sum()), "kl": kl, "num_samples": int(modes.size)}


def mode_statistics_of_samples(classifier, samples, batch_size=2000):
  """Mode statistics of generated StackedMNIST samples [N, 28, 28, n] in [-1, 1]."""
  digits = classify_stacks(classifier, samples, batch_size)
  return mode_statistics(images_lib.mode_index(digits), 10 ** digits.shape[1])
