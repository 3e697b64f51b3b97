"""The score penalty and the Deep InfoMax (JSD) term."""

import keras
import numpy as np
import tensorflow as tf

from engan_tf import losses
from engan_tf import mi
from engan_tf import networks


def test_score_norm_matches_finite_differences():
  keras.utils.set_random_seed(0)
  energy = networks.build_networks("mlp512", (3,), 2, dim=16).energy
  x = np.random.RandomState(0).randn(5, 3)
  _, sq_norm = losses.energy_and_score_norm(lambda v, training: tf.cast(
      energy(tf.cast(v, tf.float32)), tf.float64), tf.constant(x))
  eps = 1e-4
  fd = np.zeros_like(x)
  for j in range(3):
    d = np.zeros(3)
    d[j] = eps
    fd[:, j] = (energy(tf.constant(x + d, tf.float32)).numpy().astype(np.float64)
                - energy(tf.constant(x - d, tf.float32)).numpy()) / (2 * eps)
  np.testing.assert_allclose(sq_norm.numpy(), (fd ** 2).sum(1), rtol=2e-2)


def test_score_penalty_is_differentiable_in_the_weights():
  energy = networks.build_networks("mlp512", (2,), 2, dim=8).energy
  x = tf.random.normal([4, 2])
  with tf.GradientTape() as tape:
    _, sq_norm = losses.energy_and_score_norm(energy, x, training=True)
    penalty = tf.reduce_mean(sq_norm)
  kernels = [v for v in energy.trainable_variables if "kernel" in v.path]
  grads = tape.gradient(penalty, kernels)  # (biases of the output layer do not move grad_x E)
  assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_energy_loss_is_algorithm_1():
  e_real = tf.constant([1.0, 2.0])
  e_fake = tf.constant([4.0, 6.0])
  sq = tf.constant([0.5, 1.5])
  assert float(losses.energy_loss(e_real, e_fake, sq, 0.1)) == np.float32(1.5 - 5.0 + 0.1 * 1.0)


def test_per_dimension_shuffle_keeps_columns_and_breaks_pairs():
  z = tf.reshape(tf.range(64 * 4, dtype=tf.float32), [64, 4])
  z_neg = mi.shuffle_per_dimension(z, tf.random.Generator.from_seed(3)).numpy()
  for j in range(4):  # each column: the same multiset of values
    np.testing.assert_array_equal(np.sort(z_neg[:, j]), np.sort(z.numpy()[:, j]))
  # Rows of z have column j = 4 i + j; a shuffled row mixes source rows.
  source_rows = (z_neg - np.arange(4)) / 4
  mixed = (source_rows != source_rows[:, :1]).any(1)
  assert mixed.mean() > 0.9
  # The row shuffle keeps rows whole.
  z_rows = mi.shuffle_rows(z, tf.random.Generator.from_seed(3)).numpy()
  assert not (((z_rows - np.arange(4)) / 4) != ((z_rows[:, :1]) / 4)).any()


def test_jsd_sign_training_t_lowers_l_h_and_raises_the_mi_estimate():
  keras.utils.set_random_seed(1)
  rng = np.random.RandomState(0)
  z = tf.constant(rng.randn(256, 2), tf.float32)
  x = tf.tanh(z @ tf.constant([[1.0, 0.5], [-0.3, 1.0]]))  # x = f(z): dependent
  z_neg = mi.shuffle_per_dimension(z, tf.random.Generator.from_seed(0))
  stats = networks.build_networks("mlp512", (2,), 2, dim=64).statistics
  opt = keras.optimizers.Adam(1e-3)

  def l_h():
    return mi.jsd_loss(stats([x, z]), stats([x, z_neg]))

  @tf.function  # one graph for the 200 updates (eager: most of this test's time)
  def update():
    with tf.GradientTape() as tape:
      loss = l_h()
    opt.apply_gradients(zip(tape.gradient(loss, stats.trainable_variables),
                            stats.trainable_variables))

  before = float(l_h())
  for _ in range(200):
    update()
  after = float(l_h())
  assert after < before - 0.3
  # L_H against eq. 5-6 written out in numpy: softplus(t) = log(1 + e^t).
  t_joint, t_marginal = stats([x, z]).numpy(), stats([x, z_neg]).numpy()
  reference = np.mean(np.logaddexp(0.0, -t_joint)) + np.mean(np.logaddexp(0.0, t_marginal))
  np.testing.assert_allclose(after, reference, rtol=1e-5)
  # I_JSD = -L_H = 2 JSD - 2 log 2 lies in [-2 log 2, 0]: -2 log 2 for T = 0, 0 for a
  # perfect critic.
  assert -2 * np.log(2) < -before < -after <= 0


class _RecordingStatistics(keras.Model):
  """T(x, z) = w . concat(x, z) that keeps the x it was called with (eager calls only)."""

  def __init__(self):
    super().__init__()
    self.dense = keras.layers.Dense(1)
    self.seen = []

  def call(self, inputs):
    x, z = inputs
    self.seen.append(x)
    return self.dense(tf.concat([x, z], -1))[:, 0]


def test_mi_noise_std_adds_noise_only_to_what_t_sees():
  from engan_tf import model as model_lib  # pylint: disable=import-outside-toplevel
  latent_dim, std = 3, 0.3
  generator = keras.Sequential([keras.Input((latent_dim,)),
                                keras.layers.Dense(2, kernel_initializer="zeros")])  # G(z) = 0
  energy = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1), keras.layers.Flatten()])
  statistics = _RecordingStatistics()
  statistics([tf.zeros([1, 2]), tf.zeros([1, latent_dim])])
  statistics.seen.clear()
  model = model_lib.EnGAN(energy, generator, statistics, latent_dim=latent_dim,
                          mi_noise_std=std)
  model.compile(*[keras.optimizers.SGD(0.0) for _ in range(3)])
  model.build_optimizers()
  model.generator_update({}, 20_000, 1.0)
  joint, marginal = [x.numpy() for x in statistics.seen]
  np.testing.assert_array_equal(joint, marginal)  # one noisy x, paired with z and with z'
  assert abs(joint.mean()) < 0.01 and abs(joint.std() - std) < 0.01
  with np.testing.assert_raises(ValueError):
    model_lib.EnGAN(energy, generator, statistics, latent_dim=latent_dim, mi_noise_std=-1.0)


def test_log_det_entropy_gain_of_a_linear_generator_is_log_abs_det():
  a = np.array([[2.0, 0.5], [0.0, -3.0]], np.float32)  # |det| = 6
  generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
      2, use_bias=False, kernel_initializer=keras.initializers.Constant(a))])
  gain = mi.log_det_entropy_gain(generator, tf.random.normal([64, 2]))
  np.testing.assert_allclose(gain.numpy(), np.log(6.0), rtol=1e-5)
  b = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [3.0, 0.0, 0.5]], np.float32)  # det 0.5
  generator3 = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
      3, use_bias=False, kernel_initializer=keras.initializers.Constant(b))])
  gain3 = mi.log_det_entropy_gain(generator3, tf.random.normal([8, 3]))
  np.testing.assert_allclose(gain3.numpy(), np.log(0.5), rtol=1e-5)
  # A non-square Jacobian has no change-of-variables entropy: a clear error.
  wide = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
  with np.testing.assert_raises_regex(ValueError, "latent_dim == data dimension"):
    mi.log_det_entropy_gain(wide, tf.random.normal([4, 3]))


def test_logdet_entropy_spreads_g_and_leaves_t_alone():
  from engan_tf import model as model_lib  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  nets = networks.build_networks("mlp512", (2,), 2, dim=16)
  model = model_lib.EnGAN(*nets, latent_dim=2, entropy="logdet")
  model.compile(*[keras.optimizers.SGD(0.01) for _ in range(3)])
  model.build_optimizers()
  t_before = [w.numpy() for w in nets.statistics.weights]
  z = tf.random.normal([256, 2], seed=1)
  gain_before = float(mi.log_det_entropy_gain(nets.generator, z))
  for _ in range(20):
    values = model.generator_update({"z": z, "z_marginal": z}, 256, 1.0)
  assert float(mi.log_det_entropy_gain(nets.generator, z)) > gain_before
  assert float(values["l_h"]) < -gain_before  # L_H = -mean log|det dG/dz| went down
  for before, after in zip(t_before, nets.statistics.weights):
    np.testing.assert_array_equal(before, after.numpy())
  with np.testing.assert_raises(ValueError):
    model_lib.EnGAN(*nets, latent_dim=2, entropy="nope")


def test_entropy_weight_scales_g_s_entropy_gradient_but_not_t_s_update():
  from engan_tf import model as model_lib  # pylint: disable=import-outside-toplevel
  z = tf.random.normal([64, 2], seed=3)
  noise = {"z": z, "z_marginal": mi.shuffle_per_dimension(z)}

  def one_update(weight):
    keras.utils.set_random_seed(0)
    nets = networks.build_networks("mlp512", (2,), 2, dim=16)
    model = model_lib.EnGAN(*nets, latent_dim=2, entropy_weight=weight)
    model.compile(*[keras.optimizers.SGD(0.1) for _ in range(3)])
    model.build_optimizers()
    before = [w.numpy() for w in nets.generator.weights]
    model.generator_update(noise, 64, 1.0)
    return ([w.numpy() - b for w, b in zip(nets.generator.weights, before)],
            [w.numpy() for w in nets.statistics.weights])

  g_full, t_full = one_update(1.0)
  g_half, t_half = one_update(0.5)
  for a, b in zip(t_full, t_half):  # T minimises L_H whatever G's weight on it
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert any(not np.allclose(a, b) for a, b in zip(g_full, g_half))
  with np.testing.assert_raises(ValueError):
    model_lib.EnGAN(*networks.build_networks("mlp512", (2,), 2, dim=8), latent_dim=2,
                    entropy_weight=0.0)


def test_denoising_score_matching_is_the_residual_of_the_scaled_score():
  # For E = 0.5 ||x||^2 / v (data N(0, s^2 I) smoothed by the noise: v = s^2 + sigma^2),
  # grad E(x + sigma eps) = (x + sigma eps) / v: the loss is 0.5 ||that * sigma - eps||^2.
  s, sigma, d = 0.5, 0.3, 3
  v = s * s + sigma * sigma
  x = tf.constant(np.random.RandomState(0).randn(4, d) * s, tf.float32)
  eps = tf.constant(np.random.RandomState(1).randn(4, d), tf.float32)
  energy = lambda u, training=False: 0.5 * tf.reduce_sum(u * u, axis=1) / v
  got = losses.denoising_score_matching(energy, x, eps, sigma).numpy()
  residual = sigma * (x.numpy() + sigma * eps.numpy()) / v - eps.numpy()
  np.testing.assert_allclose(got, 0.5 * (residual ** 2).sum(1), rtol=1e-5)


def test_denoising_score_matching_trains_an_energy_that_rises_away_from_the_data():
  # Two tight clusters; after DSM alone E is lower on them than between and beyond them.
  keras.utils.set_random_seed(0)
  energy = networks.build_networks("kdd_swish_energy", (2,), 2, dim=32).energy
  rng = np.random.RandomState(0)
  data = np.concatenate([rng.randn(256, 2) * 0.05 + c for c in ([-1, 0], [1, 0])])
  optimizer = keras.optimizers.Adam(3e-3)

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(losses.denoising_score_matching(
          energy, x, tf.random.normal(tf.shape(x)), 0.2, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, energy.trainable_variables),
                                  energy.trainable_variables))

  for _ in range(300):
    step(tf.constant(data[rng.choice(len(data), 128)], tf.float32))
  e = lambda p: float(energy(tf.constant([p], tf.float32))[0])
  assert e([-1, 0]) < e([0, 0]) and e([1, 0]) < e([0, 0])
  assert e([1, 0]) < e([2.5, 0]) and e([-1, 0]) < e([0, 1.5])
