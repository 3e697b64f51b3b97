"""Generated images from a trained image model, plain or after latent MALA (paper Fig. 4).

Shared by the image comparisons of bench/ (cifar10_compare.py, stacked_mnist3_mcmc.py), so
that "before" and "after MCMC" always start from the same latents.

  >>> samples, acceptance = latent_samples(model, 1000, seed=0, mcmc_steps=100,
  ...                                      prior="gaussian", step_size=0.01)
  >>> samples.shape   # [1000, h, w, c], G's output range [-1, 1]
"""

import numpy as np


def latent_samples(model, num_samples, seed, mcmc_steps=0, prior="none", step_size=0.01,
                   batch_size=250, transform=None):
  """(samples [n, ...] as numpy, mean MALA acceptance or None) of a trained generator.

  The latents are one fixed stream (seed: batch i draws stateless_normal with seed
  [seed, i]); with mcmc_steps > 0 each batch's latents first run that many latent MALA
  steps on E(G(z)) (prior "none": the paper's target; "gaussian": with the N(0, I) latent
  prior) at the paper's step size alpha = step_size, so samples with and without MCMC pair
  up. transform (optional) maps each batch of G's outputs before it is kept (e.g. to uint8).
  """
  import tensorflow as tf
  from engan_tf import mcmc
  out, rates = [], []
  for i in range(0, num_samples, batch_size):
    z = tf.random.stateless_normal([min(batch_size, num_samples - i), model.latent_dim],
                                   [seed, i // batch_size])
    if mcmc_steps:
      result = mcmc.latent_mala(model.energy, model.generator, z, mcmc_steps, step_size,
                                prior=prior, seed=[seed, i // batch_size])
      x = result.x
      rates.append(result.acceptance_rate.numpy())
    else:
      x = model.generator(z, training=False)
    out.append(np.asarray(transform(x) if transform else x))
  return np.concatenate(out), float(np.concatenate(rates).mean()) if rates else None


def adapted_step_size(model, seed, prior, step_size=0.01, num_chains=500, num_steps=100,
                      target_accept=0.574):
  """The paper's alpha after tfp dual-averaging adaptation (engan_tf.mcmc.adapt_step_size)
  of num_chains latent chains from N(0, I) over num_steps burn-in steps: a step size chosen
  by acceptance alone, without looking at any quality measure."""
  import tensorflow as tf
  from engan_tf import mcmc
  z = tf.random.stateless_normal([num_chains, model.latent_dim], [seed, 10_000])
  result = mcmc.adapt_step_size(model.energy, z, num_steps, step_size,
                                generator_fn=model.generator, prior=prior,
                                target_accept_prob=target_accept, seed=[seed, 10_001])
  return float(result.step_size.numpy()), float(np.mean(result.acceptance_rate.numpy()))
