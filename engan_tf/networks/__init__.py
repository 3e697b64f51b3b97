"""The three EnGAN networks, built by name.

  energy     E_theta(x) -> [batch]           (low on data, high elsewhere)
  generator  G_omega(z) -> x                 (a sample of p_G)
  statistics T_phi(x, z) -> [batch]          (the Deep InfoMax critic of (x, z) pairs)

An architecture family registers a builder `builder(data_shape, latent_dim, dim) ->
Networks`; `build_networks(name, ...)` looks it up. Example:

  >>> import tensorflow as tf
  >>> nets = build_networks("mlp512", data_shape=(2,), latent_dim=2)
  >>> nets.energy(tf.zeros([4, 2])).shape
  TensorShape([4])
"""

import collections
import keras

from engan_tf import registry
from engan_tf.networks import dcgan64
from engan_tf.networks import mlp
from engan_tf.networks import sngan

Networks = collections.namedtuple("Networks", ["energy", "generator", "statistics"])

_NETWORKS = registry.Registry("networks")
# Decorator: `@register_networks("name")` on `builder(data_shape, latent_dim, dim) -> (E, G, T)`.
register_networks = _NETWORKS.register
network_names = _NETWORKS.names


def build_networks(name, data_shape, latent_dim, dim=None) -> Networks:
  """Builds (energy, generator, statistics) for `data_shape` and `latent_dim`.

  `dim` is the width knob of the family (hidden units for MLPs, base channels for CNNs);
  None takes the family's paper default.
  """
  nets = _NETWORKS.get(name)(tuple(data_shape), int(latent_dim), dim)
  return Networks(*(_float32_outputs(net) for net in nets))


def _float32_outputs(model):
  """Under a mixed-precision policy, the network's output cast to float32.

  Energies, scores and samples feed losses, gradient penalties and MCMC acceptance ratios,
  which need float32; the layers inside still compute in the policy's dtype.
  """
  if keras.mixed_precision.global_policy().compute_dtype == "float32":
    return model
  out = keras.layers.Activation("linear", dtype="float32", name=f"{model.name}_float32")(
      model.output)
  return keras.Model(model.inputs, out, name=model.name)


def _mlp_family(g_hidden, et_hidden, energy_activation="leaky_relu", energy_head="linear"):
  """An MLP family; `dim` (if given) replaces every hidden width."""

  def build(data_shape, latent_dim, dim):
    g = (dim,) * len(g_hidden) if dim else g_hidden
    et = (dim,) * len(et_hidden) if dim else et_hidden
    return (mlp.energy(data_shape, et, energy_activation, energy_head),
            mlp.generator(latent_dim, data_shape, g),
            mlp.statistics(data_shape, latent_dim, et))

  return build


# Toy data (paper appendix 7.2): three hidden layers of 512 in all three networks.
register_networks("mlp512")(_mlp_family((512, 512, 512), (512, 512, 512)))
# The same with a smooth (swish) energy: wells with flat bottoms (see mlp.energy).
register_networks("mlp512_swish_energy")(
    _mlp_family((512, 512, 512), (512, 512, 512), energy_activation="swish"))
# The same with a quadratic energy head, E = 0.5 ||V h(x) + b||^2 >= 0 (see mlp.energy).
register_networks("mlp512_quadratic_energy")(
    _mlp_family((512, 512, 512), (512, 512, 512), energy_head="quadratic"))
# KDD99 (Zenati et al. 2018): G 64-128-out with ReLU; E and T 256-128-128 LeakyReLU(0.2).
register_networks("kdd")(_mlp_family((64, 128), (256, 128, 128)))
register_networks("kdd_swish_energy")(
    _mlp_family((64, 128), (256, 128, 128), energy_activation="swish"))
register_networks("kdd_quadratic_energy")(
    _mlp_family((64, 128), (256, 128, 128), energy_head="quadratic"))

# MNIST / StackedMNIST anomaly detection and samples: DCGAN-style convnets (networks/dcgan.py).
from engan_tf.networks import dcgan  # noqa: E402  pylint: disable=g-import-not-at-top

register_networks("dcgan28")(dcgan.build)
# CIFAR-10 (paper appendix 7.2): the "standard CNN" of Miyato et al. (2018).
register_networks("sngan32")(sngan.build)
# CelebA 64x64: DCGAN-style.
register_networks("dcgan64")(dcgan64.build)

# The convolutional families (build.default_jit_compile: no XLA for them on a CPU).
CONVOLUTIONAL = ("dcgan28", "sngan32", "dcgan64")
