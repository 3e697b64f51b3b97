"""The MNIST digit classifier that counts StackedMNIST modes, and the command that trains it.

  python -m engan_tf.metrics.mnist_classifier --data_dir=../shared/data \
      --output=runs/mnist_classifier.keras

trains a small CNN on the 60,000 MNIST training digits (pixels in [-1, 1], the scale of
the generators' output), reports its accuracy on the 10,000 test digits, refuses to save
one below --min_accuracy (99% by default) and writes a .keras file that
`load_classifier` reads back.

Architecture: conv5x5 32 ReLU, maxpool 2, conv5x5 64 ReLU, maxpool 2, dense 256 ReLU,
dropout 0.5, dense 10 (logits).

Example (the trained classifier's file, and images [n, 28, 28, 1] in [-1, 1]: not run by
the doctests):
  >>> classifier = load_classifier("runs/mnist_classifier.keras")  # doctest: +SKIP
  >>> digits = predict_digits(classifier, images)   # int64 [n]  # doctest: +SKIP
"""

import sys

import keras
import numpy as np
from keras import layers


def build_classifier(seed=0):
  keras.utils.set_random_seed(seed)
  return keras.Sequential([
      keras.Input((28, 28, 1), name="digit"),
      layers.Conv2D(32, 5, activation="relu", name="conv0"),
      layers.MaxPooling2D(2, name="pool0"),
      layers.Conv2D(64, 5, activation="relu", name="conv1"),
      layers.MaxPooling2D(2, name="pool1"),
      layers.Flatten(name="flatten"),
      layers.Dense(256, activation="relu", name="dense"),
      layers.Dropout(0.5, name="dropout"),
      layers.Dense(10, name="logits"),
  ], name="mnist_classifier")


def to_classifier_input(images_uint8):
  """uint8 [n, 28, 28] -> float32 [n, 28, 28, 1] in [-1, 1] (the generators' scale)."""
  return (np.asarray(images_uint8, np.float32) / 127.5 - 1.0).reshape(-1, 28, 28, 1)


def train_classifier(train_x, train_y, test_x, test_y, epochs=3, batch_size=128, seed=0,
                     verbose=2):
  """Trains on uint8 digits; returns (classifier, test accuracy)."""
  classifier = build_classifier(seed)
  classifier.compile(keras.optimizers.Adam(1e-3),
                     keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     metrics=["accuracy"])
  classifier.fit(to_classifier_input(train_x), np.asarray(train_y, np.int64), epochs=epochs,
                 batch_size=batch_size, shuffle=True, verbose=verbose)
  _, accuracy = classifier.evaluate(to_classifier_input(test_x), np.asarray(test_y, np.int64),
                                    batch_size=1000, verbose=0)
  return classifier, float(accuracy)


def load_classifier(path):
  import tensorflow as tf
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(
        f"no MNIST classifier at {path!r}: train one with "
        f"python -m engan_tf.metrics.mnist_classifier --data_dir=... --output={path}")
  return keras.models.load_model(path)


def predict_digits(classifier, images, batch_size=2000):
  """Digits (int64 [n]) of [n, 28, 28, 1] float images in [-1, 1], in batches (bounded memory)."""
  images = np.asarray(images, np.float32)
  out = [np.argmax(classifier(images[i:i + batch_size], training=False), axis=-1)
         for i in range(0, len(images), batch_size)]
  return np.concatenate(out).astype(np.int64) if out else np.zeros([0], np.int64)


def main(argv):
  from absl import flags
  from engan_tf.data import images as images_lib
  flags_ = flags.FLAGS
  del argv
  train_x, train_y, test_x, test_y = images_lib.mnist_arrays(flags_.data_dir)
  classifier, accuracy = train_classifier(train_x, train_y, test_x, test_y, flags_.epochs,
                                          flags_.batch_size, flags_.seed)
  print(f"MNIST test accuracy: {accuracy:.4f} ({len(test_y)} test digits)")
  if accuracy < flags_.min_accuracy:
    print(f"error: accuracy {accuracy:.4f} < --min_accuracy={flags_.min_accuracy}; not saved "
          "(train longer with --epochs)", file=sys.stderr)
    sys.exit(1)
  classifier.save(flags_.output)
  print(f"saved to {flags_.output}")


if __name__ == "__main__":
  from absl import app
  from absl import flags
  flags.DEFINE_string("data_dir", None, "MNIST IDX files (or a TFDS data directory).")
  flags.DEFINE_string("output", "runs/mnist_classifier.keras", "Where to save (.keras).")
  flags.DEFINE_integer("epochs", 3, "Training epochs.")
  flags.DEFINE_integer("batch_size", 128, "Minibatch size.")
  flags.DEFINE_integer("seed", 0, "Random seed.")
  flags.DEFINE_float("min_accuracy", 0.99, "Refuse to save a classifier below this.")
  app.run(main)
