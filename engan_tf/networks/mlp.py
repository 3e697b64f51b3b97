"""Fully connected E, G and T (toy and tabular data)."""

import math

import keras
from keras import layers


def _trunk(h, hidden, activation, name):
  for i, units in enumerate(hidden):
    h = layers.Dense(units, name=f"{name}_dense{i}")(h)
    h = activation(name=f"{name}_act{i}")(h)
  return h


def _leaky(name):
  return layers.LeakyReLU(negative_slope=0.2, name=name)


def _relu(name):
  return layers.ReLU(name=name)


def _swish(name):
  return layers.Activation("silu", name=name)


# Hidden activations of E and T, by name.
ACTIVATIONS = {"leaky_relu": _leaky, "swish": _swish}


def _scalar_head(h, name):
  h = layers.Dense(1, name=f"{name}_out")(h)
  return layers.Reshape((), name=f"{name}_squeeze")(h)


@keras.saving.register_keras_serializable(package="engan_tf")
class HalfSquaredNorm(layers.Layer):
  """[batch, k] -> [batch]: 0.5 * ||f||^2 over the last axis."""

  def call(self, f):
    return 0.5 * keras.ops.sum(keras.ops.square(f), axis=-1)


def _quadratic_head(h, name, units=32):
  """0.5 * ||V h + b||^2 over `units` outputs: a bowl in feature space (as in Deep SVDD)."""
  h = layers.Dense(units, name=f"{name}_features")(h)
  return HalfSquaredNorm(name=f"{name}_half_squared_norm")(h)


# Output heads of E, by name.
ENERGY_HEADS = {"linear": _scalar_head, "quadratic": _quadratic_head}


def energy(data_shape, hidden, activation="leaky_relu", head="linear"):
  """E(x) -> [batch]: an MLP (LeakyReLU(0.2) by default) and an output head.

  With LeakyReLU and the linear head, E is piecewise linear: its wells are cones whose
  slope at the data is what the score penalty charges for, and ||grad_x E|| is constant on
  each linear region (it saturates away from the data). A smooth activation ("swish") lets
  a well have a flat bottom under the data and steep walls beside it. The "quadratic" head,
  E = 0.5 ||V h(x) + b||^2, makes ||grad_x E|| = ||J^T (V h + b)|| grow with the distance
  from E's minimum set in feature space, as in the quadratic energies of DSEBM
  (Zhai et al. 2016), whose score norm the paper's anomaly detection follows.
  """
  x = keras.Input(data_shape, name="x")
  h = layers.Flatten(name="energy_flatten")(x) if len(data_shape) > 1 else x
  h = _trunk(h, hidden, ACTIVATIONS[activation], "energy")
  return keras.Model(x, ENERGY_HEADS[head](h, "energy"), name="energy")


def generator(latent_dim, data_shape, hidden):
  """G(z) -> x: an MLP with ReLU and a linear output in the data's shape."""
  z = keras.Input((latent_dim,), name="z")
  h = _trunk(z, hidden, _relu, "generator")
  h = layers.Dense(math.prod(data_shape), name="generator_out")(h)
  if len(data_shape) > 1:
    h = layers.Reshape(data_shape, name="generator_reshape")(h)
  return keras.Model(z, h, name="generator")


def statistics(data_shape, latent_dim, hidden):
  """T(x, z) -> [batch]: an MLP with LeakyReLU(0.2) on concat(x, z)."""
  x = keras.Input(data_shape, name="x")
  z = keras.Input((latent_dim,), name="z")
  hx = layers.Flatten(name="statistics_flatten")(x) if len(data_shape) > 1 else x
  h = layers.Concatenate(name="statistics_concat")([hx, z])
  h = _trunk(h, hidden, _leaky, "statistics")
  return keras.Model([x, z], _scalar_head(h, "statistics"), name="statistics")
