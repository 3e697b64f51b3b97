"""`dcgan64`: DCGAN-style networks (Radford et al. 2016) for 64x64 images (CelebA).

With width dim (default 64):

  G: z -> Dense 4x4x(8 dim), BN, ReLU -> deconv5x5/2 4 dim -> 2 dim -> dim (each BN, ReLU)
       -> deconv5x5/2 C, tanh                                           [64, 64, C]
  E: conv5x5/2 dim, 2 dim, 4 dim, 8 dim (LeakyReLU 0.2, no batch norm) -> Dense 1
  T: E's trunk (own weights) -> concat z -> Dense 8 dim, LeakyReLU -> Dense 1

Example:
  >>> import tensorflow as tf
  >>> from engan_tf.networks import build_networks
  >>> nets = build_networks("dcgan64", (64, 64, 3), latent_dim=100, dim=8)
  >>> nets.energy(tf.zeros([2, 64, 64, 3])).shape
  TensorShape([2])
"""

from engan_tf.networks import conv

DEFAULT_DIM = 64
_SLOPE = 0.2


def _trunk_plan(dim):
  # Four 5x5 stride-2 convolutions, 64x64 -> 4x4, widths dim .. 8 dim.
  return [(5, 2, c) for c in (dim, 2 * dim, 4 * dim, 8 * dim)]


build = conv.square_image_family("dcgan64", 64, _trunk_plan, _SLOPE, DEFAULT_DIM, kernel=5)
