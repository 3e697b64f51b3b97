"""DCGAN-style convolutional E, G and T for 28x28 images (MNIST, StackedMNIST).

  E(x):   4 x [Conv 5x5 stride 2, LeakyReLU(0.2)] with dim, 2dim, 4dim, 8dim channels
          (28 -> 14 -> 7 -> 4 -> 2), flatten, linear -> scalar. No batch norm: the score
          penalty ||grad_x E(x)||^2 must be a per-example gradient.
  G(z):   linear -> 2x2x8dim, BN, ReLU; transposed convs 5x5 stride 2 to 4dim (4x4),
          2dim (7x7), dim (14x14) with BN + ReLU, then to C channels (28x28), tanh.
  T(x,z): E's trunk (own weights) -> linear to latent_dim, concat z, MLP 8dim -> scalar.

C is data_shape[-1], so 3-channel StackedMNIST works too. `dim` (default 64) is the width.

Example:
  >>> import tensorflow as tf
  >>> e, g, t = build((28, 28, 1), latent_dim=100, dim=16)
  >>> g(tf.zeros([2, 100])).shape
  TensorShape([2, 28, 28, 1])
"""

import keras
from keras import layers

from engan_tf.networks import conv

DEFAULT_DIM = 64


def _check(data_shape):
  if tuple(data_shape[:2]) != (28, 28) or len(data_shape) != 3:
    raise ValueError(f"dcgan28 networks need 28x28xC images, got data_shape={data_shape}")


def _trunk(dim):
  # Four 5x5 stride-2 convolutions with LeakyReLU(0.2): 28 -> 14 -> 7 -> 4 -> 2.
  return conv.conv_trunk([(5, 2, dim * mult) for mult in (1, 2, 4, 8)], 0.2)


def energy(data_shape, dim):
  return conv.energy_from_trunk(data_shape, _trunk(dim))


def generator(latent_dim, data_shape, dim):
  z = keras.Input((latent_dim,), name="z")
  h = layers.Dense(2 * 2 * 8 * dim, name="generator_dense")(z)
  h = layers.Reshape((2, 2, 8 * dim), name="generator_reshape")(h)
  h = layers.BatchNormalization(name="generator_bn_in")(h)
  h = layers.ReLU(name="generator_act_in")(h)
  # 2 -> 4 -> 7 -> 14: output_padding=0 on the second gives (4 - 1) * 2 + 5 - 4 = 7.
  for i, (mult, out_pad) in enumerate(((4, None), (2, 0), (1, None))):
    h = layers.Conv2DTranspose(dim * mult, 5, strides=2, padding="same",
                               output_padding=out_pad, name=f"generator_deconv{i}")(h)
    h = layers.BatchNormalization(name=f"generator_bn{i}")(h)
    h = layers.ReLU(name=f"generator_act{i}")(h)
  h = layers.Conv2DTranspose(data_shape[-1], 5, strides=2, padding="same",
                             name="generator_deconv_out")(h)
  return keras.Model(z, layers.Activation("tanh", name="generator_tanh")(h), name="generator")


def statistics(data_shape, latent_dim, dim):
  x = keras.Input(data_shape, name="x")
  z = keras.Input((latent_dim,), name="z")
  hx = layers.Dense(latent_dim, name="statistics_features")(_trunk(dim)(x, "statistics"))
  h = layers.Concatenate(name="statistics_concat")([hx, z])
  h = layers.Dense(8 * dim, name="statistics_dense")(h)
  h = layers.LeakyReLU(negative_slope=0.2, name="statistics_act")(h)
  h = layers.Dense(1, name="statistics_out")(h)
  return keras.Model([x, z], layers.Reshape((), name="statistics_squeeze")(h), name="statistics")


def build(data_shape, latent_dim, dim):
  _check(data_shape)
  dim = dim or DEFAULT_DIM
  return (energy(data_shape, dim), generator(latent_dim, data_shape, dim),
          statistics(data_shape, latent_dim, dim))
