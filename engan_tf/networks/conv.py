"""Building blocks shared by the convolutional families (sngan32, dcgan64).

Every family gives a *trunk*: a function `trunk(x, name) -> features [batch, f]` that
builds the convolutional feature extractor of the energy network. From it:

  energy     E(x)    = Dense(1)(trunk(x))
  statistics T(x, z) = MLP(concat(trunk'(x), z))     (trunk': the same layers, own weights)

as in the paper's appendix 7.2 ("the statistics network is modeled similar to the energy
model, except with the final MLP which takes as input both the latents z and the reduced
feature representation of x"). E has no batch normalisation: the score penalty
||grad_x E(x)||^2 is per example, and batch statistics would couple the examples.

Example:
  >>> import numpy as np
  >>> trunk = lambda h, name: layers.Flatten(name=f"{name}_flat")(h)
  >>> e = energy_from_trunk((32, 32, 3), trunk)
  >>> t = statistics_from_trunk((32, 32, 3), 128, trunk, hidden=512)
  >>> e(np.zeros([2, 32, 32, 3])).shape, t([np.zeros([2, 32, 32, 3]), np.zeros([2, 128])]).shape
  (TensorShape([2]), TensorShape([2]))
"""

import keras
from keras import layers


def leaky(slope, name):
  return layers.LeakyReLU(negative_slope=slope, name=name)


def conv_trunk(plan, slope):
  """trunk(h, name): Conv2D + LeakyReLU(slope) per (kernel, stride, channels) of plan, then
  Flatten; E and T each call it to build their own copy."""

  def trunk(h, name):
    for i, (kernel, stride, channels) in enumerate(plan):
      h = layers.Conv2D(channels, kernel, strides=stride, padding="same", name=f"{name}_conv{i}")(h)
      h = leaky(slope, f"{name}_act{i}")(h)
    return layers.Flatten(name=f"{name}_flatten")(h)

  return trunk


def energy_from_trunk(data_shape, trunk):
  """E(x) -> [batch]: trunk features, then a linear scalar."""
  x = keras.Input(data_shape, name="x")
  h = trunk(x, "energy")
  h = layers.Dense(1, name="energy_out")(h)
  return keras.Model(x, layers.Reshape((), name="energy_squeeze")(h), name="energy")


def statistics_from_trunk(data_shape, latent_dim, trunk, hidden, slope=0.2):
  """T(x, z) -> [batch]: trunk(x) features concatenated with z, then a 1-hidden-layer MLP."""
  x = keras.Input(data_shape, name="x")
  z = keras.Input((latent_dim,), name="z")
  h = layers.Concatenate(name="statistics_concat")([trunk(x, "statistics"), z])
  h = layers.Dense(hidden, name="statistics_dense")(h)
  h = leaky(slope, "statistics_act")(h)
  h = layers.Dense(1, name="statistics_out")(h)
  return keras.Model([x, z], layers.Reshape((), name="statistics_squeeze")(h), name="statistics")


def upsampling_generator(latent_dim, base_size, channels, out_channels, kernel,
                         final_kernel=None):
  """G(z): Dense -> [base, base, channels[0]], then a stride-2 transposed conv per entry of
  channels[1:] (each BN + ReLU), then tanh output in [-1, 1].

  If `final_kernel` is None the last upsampling conv emits `out_channels` directly (DCGAN);
  otherwise every entry of channels[1:] is BN + ReLU and a stride-1 conv of size
  `final_kernel` maps to `out_channels` (Miyato et al.'s standard CNN).
  """
  z = keras.Input((latent_dim,), name="z")
  h = layers.Dense(base_size * base_size * channels[0], name="generator_dense")(z)
  h = layers.Reshape((base_size, base_size, channels[0]), name="generator_reshape")(h)
  h = layers.BatchNormalization(name="generator_bn0")(h)
  h = layers.ReLU(name="generator_act0")(h)
  ups = list(channels[1:]) + ([out_channels] if final_kernel is None else [])
  for i, c in enumerate(ups, start=1):
    h = layers.Conv2DTranspose(c, kernel, strides=2, padding="same", name=f"generator_up{i}")(h)
    if final_kernel is None and i == len(ups):
      break
    h = layers.BatchNormalization(name=f"generator_bn{i}")(h)
    h = layers.ReLU(name=f"generator_act{i}")(h)
  if final_kernel is not None:
    h = layers.Conv2D(out_channels, final_kernel, padding="same", name="generator_out")(h)
  h = layers.Activation("tanh", name="generator_tanh")(h)
  return keras.Model(z, h, name="generator")


def square_image_family(name, size, trunk_plan, slope, default_dim, **generator_options):
  """build(data_shape, latent_dim, dim) of a conv family for size x size x C images.

  trunk_plan(dim) -> [(kernel, stride, channels)] of E's (and T's) trunk; G upsamples from
  4x4 through widths 8, 4, 2, 1 x dim (`upsampling_generator`, with generator_options).
  """

  def build(data_shape, latent_dim, dim=None):
    if len(data_shape) != 3 or data_shape[0] != size or data_shape[1] != size:
      raise ValueError(f"{name} needs {size}x{size}xC images, got data shape {data_shape}")
    dim = dim or default_dim
    trunk = conv_trunk(trunk_plan(dim), slope)
    energy = energy_from_trunk(data_shape, trunk)
    generator = upsampling_generator(latent_dim, 4, (8 * dim, 4 * dim, 2 * dim, dim),
                                     data_shape[-1], **generator_options)
    statistics = statistics_from_trunk(data_shape, latent_dim, trunk, hidden=8 * dim,
                                       slope=slope)
    return energy, generator, statistics

  return build
