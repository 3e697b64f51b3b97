"""Draws samples from a trained EnGAN with MALA in latent space (paper Section 4) or data space.

  python sample.py --model_dir=runs/25gaussians                      # 10,000 x 100 steps
  python sample.py --model_dir=runs/25gaussians --space=data         # Appendix 7.1
  python sample.py --model_dir=runs/mnist --num_samples=64 --adapt_step_size=100

Latent space: z_0 ~ N(0, I), then --mcmc_steps MALA steps on U(z) = E(G(z)) / T
(+ |z|^2 / 2 with --prior=gaussian), samples = G(z_K). Data space: x_0 = G(z_0), then MALA
on U(x) = E(x) / T. --adapt_step_size=N first runs N burn-in steps that tune alpha towards
--target_accept (tfp dual averaging), then samples with that alpha fixed.

Writes to --output_dir: samples.npy (in model space, i.e. what G outputs; the exported
SavedModels instead return the data's own scale), latents.npy in latent space, samples.png and
initial.png (the chains' start, i.e. plain generator samples: a scatter over the learned
density exp(-E) for toy data, an image grid for images), and stats.json (acceptance rate,
step size and, for toy data, mode coverage before and after).
"""

import json
import os

from absl import app
from absl import flags

from engan_tf import cli

cli.define_model_dir_flags()
flags.DEFINE_integer("num_samples", 10000, "Number of independent chains (= samples).")
flags.DEFINE_integer("mcmc_steps", 100, "MALA steps per chain (after any adaptation).")
flags.DEFINE_float("step_size", 0.01, "Langevin step alpha in the paper's units "
                   "(proposal z - alpha grad U + sqrt(2 alpha) eps); the initial one with "
                   "--adapt_step_size.")
flags.DEFINE_enum("space", "latent", ["latent", "data"], "Where the chains run.")
flags.DEFINE_enum("prior", "none", ["none", "gaussian"],
                  "Latent space: 'gaussian' adds |z|^2/2 (the N(0, I) prior) to E(G(z)).")
flags.DEFINE_float("temperature", 1.0, "Target exp(-E / temperature).")
flags.DEFINE_integer("adapt_step_size", 0, "Burn-in steps that adapt alpha towards "
                     "--target_accept before sampling (0: alpha fixed at --step_size).")
flags.DEFINE_float("target_accept", 0.574, "Target acceptance rate of the adaptation.")
flags.DEFINE_integer("chunk_steps", 10, "Steps per progress-bar update (one graph call each).")
flags.DEFINE_integer("plot_samples", 2000, "Toy data: samples drawn on the PNG scatter.")
flags.DEFINE_string("output_dir", None, "Where results go (default: <model_dir>/samples_<space>).")
flags.DEFINE_integer("seed", 0, "Random seed (initial latents and MALA noise).")

FLAGS = flags.FLAGS


def _validate():
  for name in ("num_samples", "chunk_steps"):
    if FLAGS[name].value <= 0:
      raise ValueError(f"--{name} must be > 0, got {FLAGS[name].value}")
  for name in ("mcmc_steps", "adapt_step_size"):
    if FLAGS[name].value < 0:
      raise ValueError(f"--{name} must be >= 0, got {FLAGS[name].value}")
  for name in ("step_size", "temperature"):
    if FLAGS[name].value <= 0:
      raise ValueError(f"--{name} must be > 0, got {FLAGS[name].value}")
  if not 0 < FLAGS.target_accept < 1:
    raise ValueError(f"--target_accept must be in (0, 1), got {FLAGS.target_accept}")
  if FLAGS.space == "data" and FLAGS.prior != "none":
    raise ValueError("--prior applies to --space=latent only")


def _picture(model, source, samples):
  from engan_tf import visualize
  if source.kind == "toy":
    centers = source.toy_density.mode_centers if source.toy_density else None
    return visualize.density_picture(model.energy, samples[:FLAGS.plot_samples], centers)
  if samples.ndim == 4:
    return visualize.image_grid(samples[:64])
  return None


def _toy_stats(source, samples):
  from engan_tf.metrics import toy as toy_metrics
  density = source.toy_density
  if source.kind != "toy" or density is None or density.mode_centers is None:
    return None
  return toy_metrics.mode_statistics(samples, density.mode_centers, density.mode_std)


def sample():
  """Runs the chains described by the flags; returns the stats dict it writes."""
  import keras
  import numpy as np
  import tensorflow as tf

  from engan_tf import mcmc
  from engan_tf import training
  from engan_tf import visualize

  restored = training.restore(FLAGS.model_dir, data_dir=FLAGS.data_dir,
                              checkpoint=FLAGS.checkpoint)
  source, model = restored.source, restored.model
  output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, f"samples_{FLAGS.space}")
  tf.io.gfile.makedirs(output_dir)
  latent = FLAGS.space == "latent"

  z = tf.random.stateless_normal([FLAGS.num_samples, model.latent_dim], [FLAGS.seed, 0])
  x0 = model.generator(z, training=False)
  state = z if latent else x0
  generator_fn = model.generator if latent else None
  alpha = FLAGS.step_size
  progress = keras.utils.Progbar(FLAGS.adapt_step_size + FLAGS.mcmc_steps,
                                 stateful_metrics=["acceptance", "alpha"])
  if FLAGS.adapt_step_size:
    burn = mcmc.adapt_step_size(model.energy, state, FLAGS.adapt_step_size, alpha,
                                generator_fn=generator_fn, temperature=FLAGS.temperature,
                                prior=FLAGS.prior, target_accept_prob=FLAGS.target_accept,
                                seed=tf.constant([FLAGS.seed, 1]))
    state, alpha = burn.state, float(burn.step_size.numpy())
    progress.update(FLAGS.adapt_step_size, [("alpha", alpha)])

  # Chunks of steps: one graph call each (traced once), so the bar moves on long runs.
  accepted, done, chunk = 0.0, 0, 0
  while done < FLAGS.mcmc_steps:
    steps = min(FLAGS.chunk_steps, FLAGS.mcmc_steps - done)
    seed = tf.constant([FLAGS.seed, 2 + chunk])
    if latent:
      result = mcmc.latent_mala(model.energy, model.generator, state, steps, alpha,
                                temperature=FLAGS.temperature, prior=FLAGS.prior, seed=seed)
      state = result.z
    else:
      result = mcmc.data_mala(model.energy, state, steps, alpha,
                              temperature=FLAGS.temperature, seed=seed)
      state = result.x
    accepted += result.acceptance_rate.numpy().astype(np.float64) * steps
    done, chunk = done + steps, chunk + 1
    progress.update(FLAGS.adapt_step_size + done,
                    [("acceptance", float(accepted.mean() / done)), ("alpha", alpha)])

  samples = (model.generator(state, training=False) if latent else state).numpy()
  acceptance = float(accepted.mean() / done) if done else float("nan")
  np.save(os.path.join(output_dir, "samples.npy"), samples)
  if latent:
    np.save(os.path.join(output_dir, "latents.npy"), state.numpy())
  x0 = x0.numpy()
  for name, xs in (("initial.png", x0), ("samples.png", samples)):
    picture = _picture(model, source, xs)
    if picture is not None:
      visualize.save_png(picture, os.path.join(output_dir, name))

  stats = {"space": FLAGS.space, "num_samples": FLAGS.num_samples,
           "mcmc_steps": FLAGS.mcmc_steps, "adapt_steps": FLAGS.adapt_step_size,
           "step_size": alpha, "temperature": FLAGS.temperature, "prior": FLAGS.prior,
           "mean_acceptance_rate": acceptance}
  if FLAGS.adapt_step_size:
    stats["adaptation_acceptance_rate"] = float(burn.acceptance_rate.numpy().mean())
  before, after = _toy_stats(source, x0), _toy_stats(source, samples)
  if before is not None:
    stats["initial"], stats["final"] = before, after
  with open(os.path.join(output_dir, "stats.json"), "w") as f:
    json.dump(stats, f, indent=2)

  print(f"mean acceptance rate: {acceptance:.4f} (alpha = {alpha:.4g}, {FLAGS.mcmc_steps} "
        f"steps, {FLAGS.num_samples} chains, {FLAGS.space} space)")
  if before is not None:
    for label, s in (("initial (generator)", before), ("after MALA", after)):
      print(f"{label}: modes {s['modes_covered']}/{s['num_modes']}, high-quality share "
            f"{s['high_quality_fraction']:.4f}, KL {s['kl_to_uniform']:.4f}")
  print(f"results in {output_dir}: samples.npy{', latents.npy' if latent else ''}, "
        "samples.png, initial.png, stats.json")
  return stats


def main(argv):
  cli.start(argv)
  try:
    _validate()
    sample()
  except (ValueError, FileNotFoundError) as e:
    cli.fail("sample.py", e)


if __name__ == "__main__":
  app.run(main)
