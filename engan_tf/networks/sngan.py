"""`sngan32`: the "standard CNN" of Miyato et al. (2018, Table 3), used by the paper for CIFAR-10.

With width dim (default 64; Miyato et al.'s M_g = 4 for 32x32 images):

  G: z -> Dense 4x4x(8 dim), BN, ReLU -> deconv4x4/2 4 dim -> deconv4x4/2 2 dim
       -> deconv4x4/2 dim (each BN, ReLU) -> conv3x3/1 C, tanh          [32, 32, C]
  E: conv3x3/1 dim, conv4x4/2 dim, conv3x3/1 2 dim, conv4x4/2 2 dim, conv3x3/1 4 dim,
     conv4x4/2 4 dim, conv3x3/1 8 dim (all LeakyReLU 0.1) -> Dense 1
  T: E's trunk (own weights) -> concat z -> Dense 8 dim, LeakyReLU -> Dense 1

Spectral normalisation is not used: EnGAN fixes the energy's scale with the score
penalty instead (lambda = 10 for images, appendix 7.2).

Example:
  >>> import tensorflow as tf
  >>> from engan_tf.networks import build_networks
  >>> nets = build_networks("sngan32", (32, 32, 3), latent_dim=128, dim=16)
  >>> nets.generator(tf.zeros([2, 128])).shape
  TensorShape([2, 32, 32, 3])
"""

from engan_tf.networks import conv

DEFAULT_DIM = 64
_SLOPE = 0.1


def _trunk_plan(dim):
  # 3x3/1 and 4x4/2 convolutions, 32x32 -> 4x4, widths dim .. 8 dim (Miyato et al. Table 3).
  return [(3, 1, dim), (4, 2, dim), (3, 1, 2 * dim), (4, 2, 2 * dim), (3, 1, 4 * dim),
          (4, 2, 4 * dim), (3, 1, 8 * dim)]


build = conv.square_image_family("sngan32", 32, _trunk_plan, _SLOPE, DEFAULT_DIM, kernel=4,
                                 final_kernel=3)
