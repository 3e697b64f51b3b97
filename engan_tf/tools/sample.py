"""Draws samples from a trained EnGAN with MALA in latent space (paper Section 4) or data space.

  python sample.py --model_dir=runs/25gaussians                      # 10,000 x 100 steps
  python sample.py --model_dir=runs/25gaussians --space=data         # Appendix 7.1
  python sample.py --model_dir=runs/mnist --num_samples=64 --adapt_step_size=100
  engan-sample --model_dir=gs://bucket/runs/25gaussians              # the same, installed

Latent space: z_0 ~ N(0, I), then --mcmc_steps MALA steps on U(z) = E(G(z)) / T + |z|^2 / 2
(the latent prior; --prior=none: the paper's U = E(G(z)) / T), samples = G(z_K). Data space: x_0 = G(z_0), then MALA
on U(x) = E(x) / T. --adapt_step_size=N first runs N burn-in steps that tune alpha towards
--target_accept (tfp dual averaging), then samples with that alpha fixed.

Writes to --output_dir: samples.npy (in model space, i.e. what G outputs; the exported
SavedModels instead return the data's own scale), latents.npy in latent space, samples.png and
initial.png (the chains' start, i.e. plain generator samples: a scatter over the learned
density exp(-E) for toy data, an image grid for images), and stats.json (acceptance rate,
step size and, for toy data, mode coverage before and after; for swissroll the mean distances
from samples to true samples and back and the roll's spread, engan_tf.metrics.toy). Every
file goes through tf.io.gfile, so --output_dir (and --model_dir) may be gs://... or any
TensorFlow filesystem.
"""

import dataclasses
import io
import json
import os
from typing import Optional

from absl import flags

from engan_tf import cli
from engan_tf import config as config_lib
from engan_tf.config import option

FLAGS = flags.FLAGS
DATA_SPACE_STEP_SIZE = 0.01  # --space=data's default alpha (a model's --sample_step_size is latent)


@dataclasses.dataclass
class SampleOptions:
  """One sampling run; its flags are these fields (model_dir, checkpoint and data_dir are
  the tools' shared flags, cli.define_model_dir_flags)."""
  model_dir: str = option(None, "A model_dir written by train.py.", flag=False)
  checkpoint: str = option("latest", "latest or selected (cli.CHECKPOINTS).", flag=False)
  data_dir: Optional[str] = option(None, "Local data files (default: the run's).", flag=False)
  num_samples: int = option(10000, "Number of independent chains (= samples).")
  mcmc_steps: int = option(config_lib.SAMPLE_CHAIN_STEPS,
                           "MALA steps per chain (after any adaptation).")
  step_size: Optional[float] = option(
      None, "Langevin step alpha in the paper's units (proposal z - alpha grad U + "
      "sqrt(2 alpha) eps); the initial one with --adapt_step_size. Default: in latent space "
      "the model's --sample_step_size (config.json), in data space 0.01.")
  space: str = option("latent", "Where the chains run.", choices=("latent", "data"))
  prior: Optional[str] = option(
      None, "Latent space: 'gaussian' adds |z|^2/2 (the N(0, I) prior) to E(G(z)), 'none' is the "
      "paper's U = E(G(z)). Default: gaussian in latent space (it measured best, as the "
      "exported `sample` signature), none in data space.", choices=("none", "gaussian"))
  temperature: float = option(1.0, "Target exp(-E / temperature).")
  mixed_precision: Optional[bool] = option(
      None, "Run G and E in bfloat16 compute (float32 weights; the MALA step stays "
      "float32): 1.5-1.9x the chain-steps/s of float32 on 2 AMD EPYC cores with AVX512_BF16, "
      "the same toy sample quality (BUILD_NOTES twenty-first session). Default: as trained.")
  adapt_step_size: int = option(0, "Burn-in steps that adapt alpha towards --target_accept "
                                "before sampling (0: alpha fixed at --step_size).")
  target_accept: float = option(0.574, "Target acceptance rate of the adaptation.")
  chunk_steps: int = option(10, "Steps per progress-bar update (one graph call each).")
  plot_samples: int = option(2000, "Toy data: samples drawn on the PNG scatter.")
  output_dir: Optional[str] = option(None, "Where results go (default: "
                                     "<model_dir>/samples_<space>).")
  seed: int = option(0, "Random seed (initial latents and MALA noise).")
  verbose: int = option(1, "1: a progress bar and a summary on stdout; 0: silent.")

  def validate(self):
    """Raises ValueError naming the flag of the first bad value."""
    for name in ("num_samples", "chunk_steps"):
      if getattr(self, name) <= 0:
        raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}")
    for name in ("mcmc_steps", "adapt_step_size"):
      if getattr(self, name) < 0:
        raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
    for name in ("step_size", "temperature"):
      value = getattr(self, name)
      if value is not None and not value > 0:
        raise ValueError(f"--{name} must be > 0, got {value}")
    if not 0 < self.target_accept < 1:
      raise ValueError(f"--target_accept must be in (0, 1), got {self.target_accept}")
    if self.space == "data" and self.prior == "gaussian":
      raise ValueError("--prior=gaussian applies to --space=latent only")

  @property
  def latent_prior(self):
    """The prior the chains use: --prior, else gaussian in latent space and none in data."""
    return self.prior or ("gaussian" if self.space == "latent" else "none")


def define_flags():
  cli.define_model_dir_flags()
  cli.define_config_flags(SampleOptions)  # skips the three model_dir flags above


def options_from_flags(flag_values=FLAGS):
  return SampleOptions(model_dir=flag_values.model_dir, checkpoint=flag_values.checkpoint,
                       data_dir=flag_values.data_dir,
                       **cli.config_values(SampleOptions, flag_values))


def _picture(model, source, samples, options):
  from engan_tf import visualize
  if source.kind == "toy":
    centers = source.toy_density.mode_centers if source.toy_density else None
    return visualize.density_picture(model.energy, samples[:options.plot_samples], centers)
  if samples.ndim == 4:
    return visualize.image_grid(samples[:64])
  return None


def _toy_stats(source, samples):
  from engan_tf.metrics import toy as toy_metrics
  density = source.toy_density
  if source.kind != "toy" or density is None:
    return None
  return toy_metrics.sample_statistics(samples, density)


def _save_npy(array, path):
  """np.save through tf.io.gfile, so that any TensorFlow filesystem (gs://, ram://) works."""
  import numpy as np
  import tensorflow as tf
  buffer = io.BytesIO()
  np.save(buffer, array)
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(buffer.getvalue())


def sample(options):
  """Runs the chains `options` (SampleOptions) describe; returns the stats dict it writes."""
  import keras
  import numpy as np
  import tensorflow as tf

  from engan_tf import mcmc
  from engan_tf import training
  from engan_tf import visualize

  o = options
  o.validate()
  # Sampling reads the model_dir alone (no data files).
  restored = training.restore(o.model_dir, data_dir=o.data_dir, checkpoint=o.checkpoint,
                              with_data=False, mixed_precision=o.mixed_precision)
  source, model = restored.source, restored.model
  output_dir = o.output_dir or os.path.join(o.model_dir, f"samples_{o.space}")
  tf.io.gfile.makedirs(output_dir)
  latent = o.space == "latent"

  z = tf.random.stateless_normal([o.num_samples, model.latent_dim], [o.seed, 0])
  x0 = model.generator(z, training=False)
  state = z if latent else x0
  generator_fn = model.generator if latent else None
  if o.step_size is not None:
    alpha = o.step_size
  else:
    alpha = restored.config.sample_step_size if latent else DATA_SPACE_STEP_SIZE
  progress = keras.utils.Progbar(o.adapt_step_size + o.mcmc_steps, verbose=o.verbose,
                                 stateful_metrics=["acceptance", "alpha"])
  if o.adapt_step_size:
    burn = mcmc.adapt_step_size(model.energy, state, o.adapt_step_size, alpha,
                                generator_fn=generator_fn, temperature=o.temperature,
                                prior=o.latent_prior, target_accept_prob=o.target_accept,
                                seed=tf.constant([o.seed, 1]))
    state, alpha = burn.state, float(burn.step_size.numpy())
    progress.update(o.adapt_step_size, [("alpha", alpha)])

  # Chunks of steps: one graph call each (traced once), so the bar moves on long runs.
  accepted, done, chunk = 0.0, 0, 0
  while done < o.mcmc_steps:
    steps = min(o.chunk_steps, o.mcmc_steps - done)
    seed = tf.constant([o.seed, 2 + chunk])
    if latent:
      result = mcmc.latent_mala(model.energy, model.generator, state, steps, alpha,
                                temperature=o.temperature, prior=o.latent_prior, seed=seed)
      state = result.z
    else:
      result = mcmc.data_mala(model.energy, state, steps, alpha,
                              temperature=o.temperature, seed=seed)
      state = result.x
    accepted += result.acceptance_rate.numpy().astype(np.float64) * steps
    done, chunk = done + steps, chunk + 1
    progress.update(o.adapt_step_size + done,
                    [("acceptance", float(accepted.mean() / done)), ("alpha", alpha)])

  samples = (model.generator(state, training=False) if latent else state).numpy()
  acceptance = float(accepted.mean() / done) if done else float("nan")
  _save_npy(samples, os.path.join(output_dir, "samples.npy"))
  if latent:
    _save_npy(state.numpy(), os.path.join(output_dir, "latents.npy"))
  x0 = x0.numpy()
  for name, xs in (("initial.png", x0), ("samples.png", samples)):
    picture = _picture(model, source, xs, o)
    if picture is not None:
      visualize.save_png(picture, os.path.join(output_dir, name))

  stats = {"space": o.space, "num_samples": o.num_samples, "mcmc_steps": o.mcmc_steps,
           "adapt_steps": o.adapt_step_size, "step_size": alpha,
           "temperature": o.temperature, "prior": o.latent_prior,
           "mixed_precision": bool(restored.config.mixed_precision),
           "mean_acceptance_rate": acceptance}
  if o.adapt_step_size:
    stats["adaptation_acceptance_rate"] = float(burn.acceptance_rate.numpy().mean())
  before, after = _toy_stats(source, x0), _toy_stats(source, samples)
  if before is not None:
    stats["initial"], stats["final"] = before, after
  with tf.io.gfile.GFile(os.path.join(output_dir, "stats.json"), "w") as f:
    json.dump(stats, f, indent=2)

  if o.verbose:
    print(f"mean acceptance rate: {acceptance:.4f} (alpha = {alpha:.4g}, {o.mcmc_steps} "
          f"steps, {o.num_samples} chains, {o.space} space)")
    if before is not None:
      for label, s in (("initial (generator)", before), ("after MALA", after)):
        if "nearest_true_distance" in s:
          print(f"{label}: mean distance to the nearest of 10,000 true samples "
                f"{s['nearest_true_distance']:.5f}, from a true sample to the nearest "
                f"sample {s['nearest_sample_distance']:.5f}, roll spread "
                f"{s['roll_spread']:.3f} noise std")
        else:
          print(f"{label}: modes {s['modes_covered']}/{s['num_modes']}, high-quality share "
                f"{s['high_quality_fraction']:.4f}, KL {s['kl_to_uniform']:.4f}")
    print(f"results in {output_dir}: samples.npy{', latents.npy' if latent else ''}, "
          "samples.png, initial.png, stats.json")
  return stats


def main(argv):
  cli.start(argv)
  try:
    sample(options_from_flags())
  except (ValueError, FileNotFoundError) as e:
    cli.fail(cli.tool_name(), e)


# Entry point of `python sample.py` and `engan-sample`.
run = cli.entry_point(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
