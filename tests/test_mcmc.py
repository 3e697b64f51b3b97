"""Tests of engan_tf.mcmc: the step-size mapping, exactness on Gaussian targets, adaptation,
MALA inside (distributed) training, on a trained toy model, and the sample.py CLI."""

import json
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

from engan_tf import mcmc
from engan_tf import training
from engan_tf.metrics import toy as toy_metrics
from engan_tf.tools import sample as sample_tool

import concurrent_runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A non-isotropic Gaussian target exp(-E) with E(x) = (x - m)^T P (x - m) / 2, P = S^-1.
MEAN = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.6], [0.6, 0.5]])
PRECISION = np.linalg.inv(COV)


def quadratic_energy(x, training=False):
  del training
  d = x - tf.constant(MEAN, tf.float32)
  return 0.5 * tf.reduce_sum(tf.matmul(d, tf.constant(PRECISION, tf.float32)) * d, axis=-1)


def identity_generator(z, training=False):
  del training
  return z


def grad_energy(x):
  return (x - MEAN) @ PRECISION


def test_step_size_mapping_matches_paper_proposal():
  """tfp's MALA proposal for one step is N(z - alpha grad U(z), 2 alpha I), and its
  log acceptance ratio is the paper's MH rule for that proposal."""
  alpha, n = 0.1, 20000
  z0 = np.array([0.3, -0.7])
  kernel = mcmc.mala_kernel(quadratic_energy, alpha)
  state = tf.constant(np.tile(z0, (n, 1)), tf.float32)
  _, results = kernel.one_step(state, kernel.bootstrap_results(state), seed=[3, 4])
  proposal = results.proposed_state.numpy().astype(np.float64)

  expected_mean = z0 - alpha * grad_energy(z0)
  se = np.sqrt(2 * alpha / n)  # standard error of each mean coordinate
  np.testing.assert_allclose(proposal.mean(0), expected_mean, atol=5 * se)
  # The drift alpha * grad U is ~0.16 per coordinate here, far beyond 5 standard errors, so
  # step_size = alpha or 4 alpha in tfp units would fail.
  assert np.abs(alpha * grad_energy(z0)).min() > 20 * se
  var_se = 2 * alpha * np.sqrt(2 / n)
  np.testing.assert_allclose(np.cov(proposal.T), 2 * alpha * np.eye(2), atol=5 * var_se)

  def energy(x):
    return quadratic_energy(tf.constant(x, tf.float32)).numpy().astype(np.float64)

  def log_q(to, frm):  # log N(to; frm - alpha grad U(frm), 2 alpha I), up to a constant
    return -((to - frm + alpha * grad_energy(frm)) ** 2).sum(-1) / (4 * alpha)

  z = np.tile(z0, (n, 1))
  expected_log_ratio = energy(z) - energy(proposal) + log_q(z, proposal) - log_q(proposal, z)
  np.testing.assert_allclose(results.log_accept_ratio.numpy(), expected_log_ratio,
                             rtol=1e-3, atol=1e-3)


def _gaussian_case(case):
  """(run the chains, expected mean, expected covariance) for each documented option."""
  prior_precision = PRECISION + np.eye(2)
  cases = {
      # G = identity: U(z) = E(z), so z ~ N(MEAN, COV).
      "latent": (dict(), MEAN, COV),
      # U = E / T: the covariance scales by T.
      "latent_temperature2": (dict(temperature=2.0), MEAN, 2.0 * COV),
      # U = E + |z|^2 / 2: precision P + I, mean (P + I)^-1 P m.
      "latent_gaussian_prior": (dict(prior="gaussian"),
                                np.linalg.solve(prior_precision, PRECISION @ MEAN),
                                np.linalg.inv(prior_precision)),
      "data": (dict(), MEAN, COV),
  }
  return cases[case]


@pytest.mark.parametrize(
    "case", ["latent", "latent_temperature2", "latent_gaussian_prior", "data"])
def test_samples_match_gaussian_target(case):
  options, mean, cov = _gaussian_case(case)
  chains, steps, alpha = 4000, 300, 0.1
  # Burn-in: the slowest direction contracts by (1 - alpha * lambda_min(precision)) per step
  # (the precision is at most PRECISION, at least PRECISION / 2 here).
  assert (1 - alpha * np.linalg.eigvalsh(PRECISION / 2).min()) ** steps < 1e-3
  z0 = tf.zeros([chains, 2])
  if case == "data":
    result = mcmc.data_mala(quadratic_energy, z0, steps, alpha, seed=11, **options)
  else:
    result = mcmc.latent_mala(quadratic_energy, identity_generator, z0, steps, alpha, seed=11,
                              **options)
    np.testing.assert_allclose(result.x.numpy(), result.z.numpy())
  samples = result.x.numpy().astype(np.float64)
  # The chains are independent, so the final states are `chains` iid draws: 5 standard
  # errors of the sample mean and covariance (Gaussian: var(S_ij) = (S_ii S_jj + S_ij^2)/n).
  mean_se = np.sqrt(np.diag(cov) / chains)
  np.testing.assert_array_less(np.abs(samples.mean(0) - mean), 5 * mean_se)
  cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / chains)
  np.testing.assert_array_less(np.abs(np.cov(samples.T) - cov), 5 * cov_se)
  rate = result.acceptance_rate.numpy()
  assert rate.shape == (chains,)
  assert 0.3 < rate.mean() < 1.0


def test_acceptance_falls_as_step_size_grows():
  # Start at stationarity so every step size sees the same states.
  z0 = tf.constant(np.random.default_rng(0).multivariate_normal(MEAN, COV, 2000), tf.float32)
  rates = [mcmc.latent_mala(quadratic_energy, identity_generator, z0, 50, alpha,
                            seed=5).acceptance_rate.numpy().mean()
           for alpha in (0.01, 0.03, 0.1, 0.3, 1.0)]
  assert np.all(np.diff(rates) < 0), rates
  assert rates[0] > 0.95 and rates[-1] < 0.3, rates


def test_adaptation_reaches_target_acceptance():
  z0 = tf.zeros([2000, 2])
  burn = mcmc.adapt_step_size(quadratic_energy, z0, 300, step_size=0.001,
                              generator_fn=identity_generator, seed=7)
  alpha = float(burn.step_size.numpy())
  assert burn.step_size.shape == () and alpha > 0.01  # grew from a too-small start
  result = mcmc.latent_mala(quadratic_energy, identity_generator, burn.state, 200, alpha,
                            seed=8)
  assert abs(result.acceptance_rate.numpy().mean() - mcmc.TARGET_ACCEPT_PROB) < 0.05
  # Data space and a lower target give a smaller step.
  low = mcmc.adapt_step_size(quadratic_energy, z0, 300, 0.001, target_accept_prob=0.9, seed=7)
  assert float(low.step_size.numpy()) < alpha


def test_adaptation_from_a_too_large_step_finds_the_optimal_mala_step():
  """On N(0, I_d) the step with acceptance 0.574 is alpha = 1.65^2 d^(-1/3) / 2 (Roberts &
  Rosenthal 1998; tfp's step is 2 alpha). Started too large, every early proposal is
  rejected, and the adaptation used to keep the drift of the first, large step cached in
  tfp's results: no later proposal was accepted and alpha fell to 1e-37."""
  d = 100
  optimal = 1.65 ** 2 * d ** (-1 / 3) / 2  # 0.293
  z0 = tf.random.stateless_normal([500, d], seed=[0, 0])
  energy = lambda x, training=False: 0.5 * tf.reduce_sum(x * x, -1)
  for start in (1.0, 0.01):
    burn = mcmc.adapt_step_size(energy, z0, 100, step_size=start,
                                generator_fn=identity_generator, seed=3)
    assert float(burn.step_size) == pytest.approx(optimal, rel=0.1), start
    assert float(tf.reduce_mean(burn.acceptance_rate)) > 0.4


def test_num_steps_tensor_does_not_retrace_and_bad_options_fail():
  z0 = tf.zeros([10, 2])
  mcmc.latent_mala(quadratic_energy, identity_generator, z0, 3, 0.1, seed=1)
  traces = mcmc._mala_graph.experimental_get_tracing_count()
  for steps in (1, 5, 7):
    mcmc.latent_mala(quadratic_energy, identity_generator, z0, steps, 0.2 * steps, seed=steps)
  assert mcmc._mala_graph.experimental_get_tracing_count() == traces
  # Called eagerly, run_mala still runs its loop as one graph.
  state, rate = mcmc.run_mala(quadratic_energy, z0, 4, 0.1, seed=[1, 2])
  assert state.shape == (10, 2) and rate.shape == (10,)
  zero = mcmc.latent_mala(quadratic_energy, identity_generator, z0, 0, 0.1)
  np.testing.assert_array_equal(zero.z.numpy(), z0.numpy())
  with pytest.raises(ValueError, match="prior must be one of"):
    mcmc.latent_mala(quadratic_energy, identity_generator, z0, 1, 0.1, prior="laplace")
  with pytest.raises(ValueError, match="target_accept_prob"):
    mcmc.adapt_step_size(quadratic_energy, z0, 1, 0.1, target_accept_prob=1.5)


def test_latent_mala_in_a_saved_model(tmp_path):
  """The export path: latent_mala with a tensor num_steps inside a SavedModel signature."""
  module = tf.Module()
  module.shift = tf.Variable(MEAN, dtype=tf.float32)
  energy = lambda x, training=False: 0.5 * tf.reduce_sum(tf.square(x - module.shift), -1)

  @tf.function(input_signature=[tf.TensorSpec([None, 2]), tf.TensorSpec([], tf.int32)])
  def sample(z, num_steps):
    result = mcmc.latent_mala(energy, identity_generator, z, num_steps, 0.1)
    return {"x": result.x, "acceptance_rate": result.acceptance_rate}

  module.sample = sample
  tf.saved_model.save(module, str(tmp_path / "sm"))
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  out = loaded.sample(tf.zeros([3000, 2]), tf.constant(200))
  np.testing.assert_allclose(out["x"].numpy().mean(0), MEAN, atol=0.1)
  assert 0.5 < out["acceptance_rate"].numpy().mean() < 1.0


def test_data_space_negatives_follow_the_energy():
  """DataMALA (--negative_data_steps) moves given points to exp(-E): from x = 3 on
  E = |x|^2 / 2 the chains end distributed as N(0, I)."""
  energy = lambda x, training=False: 0.5 * tf.reduce_sum(tf.square(x), -1)
  sampler = mcmc.DataMALA(num_steps=200, step_size=0.2)
  x, acceptance = sampler(energy, tf.fill([4000, 2], 3.0), seed=tf.constant([5, 0]))
  np.testing.assert_allclose(x.numpy().mean(0), [0.0, 0.0], atol=0.1)
  np.testing.assert_allclose(x.numpy().var(0), [1.0, 1.0], atol=0.15)
  assert acceptance.shape == (4000,) and 0.5 < float(tf.reduce_mean(acceptance)) < 1.0


def test_prior_jumps_share_chains_between_wells_by_their_mass():
  """LatentPriorJumps (--mcmc_jump_steps): chains that all start in one well of a double
  well end in each well in proportion to its mass under N(z) exp(-E(G(z))); latent MALA's
  local steps leave them where they started."""
  # Wells at -1.5 and +1.5 (width 0.1); the right one 1 nat deeper: target masses 1 : e.
  def energy(x, training=False):
    del training
    left = 0.5 * tf.square((x[:, 0] + 1.5) / 0.1)
    right = 0.5 * tf.square((x[:, 0] - 1.5) / 0.1) - 1.0
    return -tf.reduce_logsumexp(tf.stack([-left, -right]), 0)
  generator = lambda z, training=False: z
  z0 = tf.fill([4000, 1], -1.5)
  z, acceptance = mcmc.LatentPriorJumps(num_steps=300)(energy, generator, z0,
                                                       seed=tf.constant([3, 0]))
  right_share = float(tf.reduce_mean(tf.cast(z[:, 0] > 0, tf.float32)))
  assert abs(right_share - np.e / (1 + np.e)) < 0.03
  assert acceptance.shape == (4000,) and 0.0 < float(tf.reduce_mean(acceptance)) < 0.2
  z_local, _ = mcmc.LatentMALA(num_steps=300, step_size=1e-3)(energy, generator, z0,
                                                               seed=tf.constant([3, 0]))
  assert float(tf.reduce_max(z_local)) < 0


def test_mcmc_jump_steps_validated():
  with pytest.raises(ValueError, match="--mcmc_jump_steps must be >= 0"):
    training.TrainConfig(mcmc_jump_steps=-1).validate()
  with pytest.raises(ValueError, match=r"--mcmc_jump_start must be in \[0, 1\)"):
    training.TrainConfig(mcmc_jump_steps=2, mcmc_jump_start=1.0).validate()
  with pytest.raises(ValueError, match="--mcmc_jump_steps are part of EnGAN"):
    training.TrainConfig(model="wgan_gp", mcmc_jump_steps=2).validate()


def test_negative_data_steps_validated():
  with pytest.raises(ValueError, match="--negative_data_step_size must be > 0"):
    training.TrainConfig(negative_data_steps=2, negative_data_step_size=0.0).validate()
  with pytest.raises(ValueError, match="--negative_data_steps is part of EnGAN"):
    training.TrainConfig(model="wgan_gp", negative_data_steps=2).validate()


def test_mirrored_training_with_mcmc_steps(tmp_path):
  """Latent jumps (from step 2: the in-graph condition on the step), latent and data-space
  MCMC negatives under MirroredStrategy, reported to TensorBoard."""
  assert len(tf.config.list_logical_devices("CPU")) == 2
  summary = training.train(training.TrainConfig(
      dataset="25gaussians", model_dir=str(tmp_path / "run"), dim=32, batch_size=64, n_critic=1,
      strategy="mirrored", mcmc_steps=2, mcmc_jump_steps=2, mcmc_jump_start=0.5,
      negative_data_steps=2, train_steps=2,
      steps_per_epoch=1, eval_every=0, verbose=0))
  assert summary["step"] == 2
  events = tf.io.gfile.glob(str(tmp_path / "run" / "tensorboard" / "*"))
  tags = set()
  for path in events:
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  assert {"train/mcmc_jump_acceptance", "train/mcmc_acceptance",
          "train/data_mcmc_acceptance"} <= tags


def _scalars(run_dir, tag):
  """{step: value} of one TensorBoard scalar written by a training run."""
  values = {}
  for path in tf.io.gfile.glob(str(run_dir / "tensorboard" / "*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


def test_latent_jumps_begin_at_mcmc_jump_start(tmp_path):
  """--mcmc_jump_start=0.5 of 4 steps: no jumps (acceptance logged as 0) in steps 1-2,
  jumps in steps 3-4."""
  training.train(training.TrainConfig(
      dataset="25gaussians", model_dir=str(tmp_path / "run"), dim=32, batch_size=64, n_critic=1,
      mcmc_jump_steps=5, mcmc_jump_start=0.5, train_steps=4, steps_per_epoch=1, eval_every=0,
      verbose=0))
  acceptance = _scalars(tmp_path / "run", "train/mcmc_jump_acceptance")
  assert len(acceptance) == 4, acceptance
  steps = sorted(acceptance)
  assert [acceptance[s] for s in steps[:2]] == [0.0, 0.0]
  assert all(acceptance[s] > 0 for s in steps[2:])


@pytest.fixture(scope="module")
def toy_model_dir(tmp_path_factory):
  """A short 25gaussians run (narrow networks, so it and its evaluation take seconds)."""
  model_dir = str(tmp_path_factory.mktemp("toy") / "run")
  training.train(training.TrainConfig(
      dataset="25gaussians", model_dir=model_dir, dim=64, batch_size=128, learning_rate=1e-3,
      train_steps=200, steps_per_epoch=100, eval_every=0, verbose=0))
  return model_dir


def test_latent_mala_keeps_sample_quality_on_trained_toy(toy_model_dir):
  source, model = training.restore(toy_model_dir)[1:3]
  density = source.toy_density
  n = 5000
  z = tf.random.stateless_normal([n, model.latent_dim], [1, 2])
  before = toy_metrics.mode_statistics(model.generator(z).numpy(), density.mode_centers,
                                       density.mode_std)
  result = mcmc.latent_mala(model.energy, model.generator, z, 30, 0.01, seed=3)
  after = toy_metrics.mode_statistics(result.x.numpy(), density.mode_centers, density.mode_std)
  rate = float(result.acceptance_rate.numpy().mean())
  print(f"\ntrained toy: high-quality share {before['high_quality_fraction']:.3f} -> "
        f"{after['high_quality_fraction']:.3f}, modes {before['modes_covered']} -> "
        f"{after['modes_covered']}, acceptance {rate:.3f}")
  p = before["high_quality_fraction"]
  # Not lower, up to 3 standard errors of a difference of two shares of n samples.
  assert after["high_quality_fraction"] >= p - 3 * np.sqrt(2 * p * (1 - p) / n)
  assert 0.2 < rate <= 1.0


def test_sampling_in_bfloat16_runs_the_same_weights(toy_model_dir, tmp_path):
  """restore(mixed_precision=True): bfloat16 compute around the trained float32 weights; the
  samples keep the float32 model's quality (sample.py --mixed_precision)."""
  fp32 = training.restore(toy_model_dir, with_data=False).model
  bf16 = training.restore(toy_model_dir, with_data=False, mixed_precision=True).model
  assert {layer.compute_dtype for layer in bf16.energy.layers if layer.weights} == {"bfloat16"}
  assert {layer.compute_dtype for layer in fp32.energy.layers if layer.weights} == {"float32"}
  for a, b in zip(fp32.energy.get_weights() + fp32.generator.get_weights(),
                  bf16.energy.get_weights() + bf16.generator.get_weights()):
    np.testing.assert_array_equal(a, b)  # the same float32 variables
  z = tf.random.stateless_normal([2000, fp32.latent_dim], [4, 5])
  e32, e16 = fp32.energy(fp32.generator(z)), bf16.energy(bf16.generator(z))
  assert e16.dtype == tf.float32  # outputs stay float32 for the MALA step
  # bfloat16 rounding only (8 significand bits: 0.4% a rounding, a few of them in a row)
  assert float(tf.reduce_max(tf.abs(e32 - e16) / tf.maximum(tf.abs(e32), 1.0))) < 0.02
  stats = sample_tool.sample(sample_tool.SampleOptions(
      model_dir=toy_model_dir, num_samples=2000, mcmc_steps=20, mixed_precision=True,
      output_dir=str(tmp_path / "bf16"), verbose=0))
  assert stats["mixed_precision"] is True
  p = stats["initial"]["high_quality_fraction"]
  assert stats["final"]["high_quality_fraction"] >= p - 3 * np.sqrt(2 * p * (1 - p) / 2000)


def test_sample_cli(toy_model_dir, tmp_path):
  out = tmp_path / "samples"
  cmd = [sys.executable, os.path.join(ROOT, "sample.py"), f"--model_dir={toy_model_dir}",
         "--num_samples=500", "--mcmc_steps=12", "--step_size=0.01", "--adapt_step_size=10",
         "--chunk_steps=8", f"--output_dir={out}", "--seed=3"]
  data_out = tmp_path / "data"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  latent, data_space, bad = concurrent_runs.run_all(
      [cmd, cmd[:-2] + [f"--output_dir={data_out}", "--space=data"],
       cmd[:2] + [f"--model_dir={tmp_path / 'missing'}"]], timeout=300, env=env)

  assert latent.returncode == 0, latent.stderr
  assert "mean acceptance rate" in latent.stdout
  samples, latents = np.load(out / "samples.npy"), np.load(out / "latents.npy")
  assert samples.shape == (500, 2) and latents.shape == (500, 2)
  assert np.all(np.isfinite(samples))
  assert (out / "samples.png").stat().st_size > 1000
  # The default target: the latent prior in latent space (as the exported `sample`).
  assert json.loads((out / "stats.json").read_text())["prior"] == "gaussian"

  assert data_space.returncode == 0, data_space.stderr
  assert np.load(data_out / "samples.npy").shape == (500, 2)
  assert not (data_out / "latents.npy").exists()
  assert json.loads((data_out / "stats.json").read_text())["prior"] == "none"

  assert bad.returncode != 0 and "config.json not found" in bad.stderr


def test_sampling_defaults_to_the_models_own_step_size(toy_model_dir, tmp_path):
  """No --step_size: latent chains take the model's --sample_step_size, data chains 0.01."""
  model_dir = tmp_path / "run"
  shutil.copytree(toy_model_dir, model_dir)
  config = json.loads((model_dir / "config.json").read_text())
  assert config["sample_step_size"] == 0.01  # the paper's, unless a config says otherwise
  (model_dir / "config.json").write_text(json.dumps({**config, "sample_step_size": 2e-5}))
  run = lambda **kw: sample_tool.sample(sample_tool.SampleOptions(
      model_dir=str(model_dir), num_samples=50, mcmc_steps=1, verbose=0,
      output_dir=str(tmp_path / "out"), **kw))["step_size"]
  assert run() == 2e-5
  assert run(space="data") == sample_tool.DATA_SPACE_STEP_SIZE
  assert run(step_size=0.003) == 0.003


def test_sample_options_resolve_the_prior():
  assert sample_tool.SampleOptions(model_dir="m").latent_prior == "gaussian"
  assert sample_tool.SampleOptions(model_dir="m", prior="none").latent_prior == "none"
  assert sample_tool.SampleOptions(model_dir="m", space="data").latent_prior == "none"
  with pytest.raises(ValueError, match="--prior=gaussian applies to --space=latent only"):
    sample_tool.SampleOptions(model_dir="m", space="data", prior="gaussian").validate()
