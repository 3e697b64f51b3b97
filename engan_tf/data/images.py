"""Image data sets: MNIST, StackedMNIST (3 and 4 stacks), CIFAR-10 and CelebA 64x64.

Every image data set yields float32 pixels in [-1, 1] (x / 127.5 - 1 of the uint8 pixels);
`to_uint8` maps a generator's output back to uint8 pixels; `source.images` (an
`ImageData`) holds the reference images for FID and, for StackedMNIST, the mode labels.

Where the pixels come from (`data_dir` is the --data_dir flag):
  mnist, stacked_mnist*  engan_tf.data.mnist.load_mnist_arrays: the IDX files in data_dir
                         or data_dir/mnist; otherwise TFDS "mnist" (downloads).
  cifar10                cifar10_lossless_subset.npz in data_dir or data_dir/cifar10-subset
                         (a smoke-test slice); otherwise TFDS "cifar10".
  celeb_a                TFDS "celeb_a", 108x108 centre crop resized to 64x64, streamed
                         (too large to hold in memory).
For TFDS, a given data_dir is a prepared TFDS data directory (never downloaded into);
without data_dir TFDS downloads and prepares the data in its default directory.

StackedMNIST (Metz et al. 2016; Srivastava et al. 2017): an image is n MNIST training
digits, drawn independently and uniformly, stacked as the n channels of a 28x28xn image;
its mode is the digit tuple (10^n modes). As in the paper, the training set is a fixed
random set of 128 x 10^n such images, drawn with `stack_seed` (fixed; not the run seed).
Only the [N, n] digit indices are stored; images are gathered per batch (4 stacks would
be 4 GB as pixels).

Example (reads the MNIST files, or downloads them: not run by the doctests):
  >>> from engan_tf.data import load_dataset
  >>> source = load_dataset("stacked_mnist3", data_dir="../shared/data")  # doctest: +SKIP
  >>> x = next(iter(source.train_dataset(batch_size=64, n_critic=5, seed=0)))  # doctest: +SKIP
  >>> x.shape, source.images.modes.num_modes  # doctest: +SKIP
  (TensorShape([64, 5, 28, 28, 3]), 1000)
"""

import os

import numpy as np
import tensorflow as tf

from engan_tf.data import PIXEL_SCALE
from engan_tf.data import DataSource
from engan_tf.data import ImageData
from engan_tf.data import ModeCounting
from engan_tf.data import array_train_dataset
from engan_tf.data import register_dataset

STACK_SEED = 2018  # the fixed draw of the StackedMNIST training set
STACKED_IMAGES_PER_MODE = 128  # 128 x 10^n training images, as in the paper
_CIFAR10_NPZ = "cifar10_lossless_subset.npz"
_CELEBA_CROP = 108  # the usual DCGAN CelebA preprocessing: centre 108x108, then 64x64


def to_unit_range(pixels):
  """uint8 pixels [0, 255] -> float32 in [-1, 1]."""
  return tf.cast(pixels, tf.float32) / 127.5 - 1.0


def to_uint8(images):
  """Images in [-1, 1] (e.g. generator output) -> uint8 pixels, clipped."""
  return np.clip(np.round((np.asarray(images, np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _find(data_dir, filenames, subdir):
  """The directory (data_dir or data_dir/subdir) holding one of filenames, else None."""
  if not data_dir:
    return None
  for folder in (data_dir, os.path.join(data_dir, subdir)):
    if any(tf.io.gfile.exists(os.path.join(folder, f)) for f in filenames):
      return folder
  return None


def _tfds_arrays(name, splits, data_dir):
  """[(images uint8, labels)] of whole TFDS splits, in memory."""
  import tensorflow_datasets as tfds  # only the TFDS paths need it
  try:
    loaded = tfds.load(name, split=list(splits), data_dir=data_dir, as_supervised=True,
                       download=data_dir is None)
  except Exception as e:  # no network, no prepared directory, ...
    raise FileNotFoundError(
        f"could not load TFDS {name!r} (data_dir={data_dir!r}): {e}. Pass --data_dir with a "
        f"prepared TFDS directory or the data set's local files.") from e
  arrays = []
  for split in loaded:  # batched reads (batch_size=-1 crashes on generator-backed splits)
    batches = list(tfds.as_numpy(split.batch(4096)))
    arrays.append(tuple(np.concatenate([b[i] for b in batches]) for i in (0, 1)))
  return arrays


def mnist_arrays(data_dir=None):
  """(train_x [60000, 28, 28], train_y, test_x [10000, 28, 28], test_y), uint8 / int64."""
  from engan_tf.data import mnist  # the IDX reader (with the TFDS fall-back)
  train_x, train_y, test_x, test_y = (np.asarray(a) for a in mnist.load_mnist_arrays(data_dir))
  return (train_x.reshape(-1, 28, 28).astype(np.uint8), train_y.astype(np.int64),
          test_x.reshape(-1, 28, 28).astype(np.uint8), test_y.astype(np.int64))


def _image_source(name, train_images, latent_dim, networks, **image_data):
  """A DataSource over an in-memory uint8 [N, h, w, c] array."""
  train_images = np.asarray(train_images, np.uint8)

  def train_dataset(batch_size, n_critic, seed):
    return array_train_dataset(train_images, batch_size, n_critic, seed).map(
        to_unit_range, num_parallel_calls=tf.data.AUTOTUNE)

  def reference_images(batch_size):
    """One pass over the training images in [-1, 1] (FID's reference set)."""
    return tf.data.Dataset.from_tensor_slices(train_images).batch(batch_size).map(to_unit_range)

  return DataSource(name, "image", train_images.shape[1:], train_dataset,
                    default_networks=networks, default_latent_dim=latent_dim,
                    images=ImageData(reference_images, **image_data),
                    **PIXEL_SCALE)


@register_dataset("mnist")
def load_mnist(data_dir=None, seed=0, **unused):
  del seed, unused
  train_x, train_y, test_x, test_y = mnist_arrays(data_dir)
  return _image_source("mnist", train_x[..., None], 100, "dcgan28", train_labels=train_y,
                       test_images=test_x[..., None], test_labels=test_y)


def stack_indices(num_train, num_stacks, num_images, stack_seed=STACK_SEED):
  """[num_images, num_stacks] indices into the MNIST training set, drawn i.i.d. uniform."""
  rng = np.random.default_rng(stack_seed)
  return rng.integers(0, num_train, size=(num_images, num_stacks)).astype(np.int32)


def mode_index(digits):
  """Digit tuples [..., n] -> mode numbers in [0, 10^n): the digits read as a decimal."""
  digits = np.asarray(digits, np.int64)
  n = digits.shape[-1]
  return digits @ (10 ** np.arange(n - 1, -1, -1, dtype=np.int64))


def gather_stacks(digits_images, indices):
  """uint8 MNIST [M, 28, 28] and indices [..., n] -> stacked images [..., 28, 28, n]."""
  stacked = tf.gather(digits_images, indices)  # [..., n, 28, 28]
  rank = len(stacked.shape)
  perm = list(range(rank - 3)) + [rank - 2, rank - 1, rank - 3]
  return tf.transpose(stacked, perm)


def _stacked_mnist_loader(num_stacks):

  def load(data_dir=None, seed=0, stack_seed=STACK_SEED, mode_classifier=None, **unused):
    """`mode_classifier`: a saved MNIST classifier; the evaluation then counts modes."""
    del seed, unused
    train_x, train_y, _, _ = mnist_arrays(data_dir)
    num_images = STACKED_IMAGES_PER_MODE * 10 ** num_stacks
    indices = stack_indices(len(train_x), num_stacks, num_images, stack_seed)
    digits = tf.constant(train_x)

    def train_dataset(batch_size, n_critic, seed):
      ds = array_train_dataset(indices, batch_size, n_critic, seed)
      return ds.map(lambda idx: to_unit_range(gather_stacks(digits, idx)),
                    num_parallel_calls=tf.data.AUTOTUNE)

    def reference_images(batch_size):
      return tf.data.Dataset.from_tensor_slices(indices).batch(batch_size).map(
          lambda idx: to_unit_range(gather_stacks(digits, idx)))

    modes = ModeCounting(num_stacks, indices, mode_index(train_y[indices]), mode_classifier)
    return DataSource(f"stacked_mnist{num_stacks}", "image", (28, 28, num_stacks),
                      train_dataset, default_networks="dcgan28", default_latent_dim=100,
                      images=ImageData(reference_images, modes=modes), **PIXEL_SCALE)

  return load


register_dataset("stacked_mnist3")(_stacked_mnist_loader(3))
register_dataset("stacked_mnist4")(_stacked_mnist_loader(4))


@register_dataset("cifar10")
def load_cifar10(data_dir=None, seed=0, **unused):
  del seed, unused
  folder = _find(data_dir, (_CIFAR10_NPZ,), "cifar10-subset")
  if folder is not None:
    with np.load(os.path.join(folder, _CIFAR10_NPZ)) as f:
      train_x, train_y, test_x, test_y = (f[k] for k in (
          "train_images", "train_labels", "test_images", "test_labels"))
  else:
    (train_x, train_y), (test_x, test_y) = _tfds_arrays("cifar10", ("train", "test"), data_dir)
  if train_x.shape[1:] != (32, 32, 3):
    raise ValueError(f"CIFAR-10 images must be 32x32x3, got {train_x.shape[1:]}")
  return _image_source("cifar10", train_x, 128, "sngan32", train_labels=np.asarray(train_y),
                       test_images=test_x, test_labels=np.asarray(test_y))


def center_crop_64(image, crop=_CELEBA_CROP):
  """uint8 [h, w, c] -> float32 [64, 64, c] in [-1, 1]: centre crop x crop, area resize."""
  h, w = tf.shape(image)[0], tf.shape(image)[1]
  image = tf.image.crop_to_bounding_box(image, (h - crop) // 2, (w - crop) // 2, crop, crop)
  image = tf.image.resize(tf.cast(image, tf.float32), [64, 64], method="area")
  return image / 127.5 - 1.0


@register_dataset("celeb_a")
def load_celeb_a(data_dir=None, seed=0, **unused):
  del seed, unused
  import tensorflow_datasets as tfds

  def split(name, shuffle_seed=None):
    try:
      read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed)
      ds = tfds.load("celeb_a", split=name, data_dir=data_dir, download=data_dir is None,
                     shuffle_files=shuffle_seed is not None, read_config=read_config)
    except Exception as e:
      raise FileNotFoundError(
          f"could not load TFDS 'celeb_a' (data_dir={data_dir!r}): {e}. Pass --data_dir "
          f"with a prepared TFDS directory.") from e
    return ds.map(lambda ex: center_crop_64(ex["image"]), num_parallel_calls=tf.data.AUTOTUNE)

  split("train")  # fail now, with the message above, if the data is not there

  def train_dataset(batch_size, n_critic, seed):
    ds = split("train", shuffle_seed=seed).shuffle(10_000, seed=seed).repeat()
    ds = ds.batch(n_critic, drop_remainder=True).batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)

  def reference_images(batch_size):
    return split("train").batch(batch_size)

  return DataSource("celeb_a", "image", (64, 64, 3), train_dataset, default_networks="dcgan64",
                    default_latent_dim=128,
                    images=ImageData(reference_images),
                    **PIXEL_SCALE)
