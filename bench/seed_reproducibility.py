"""Two toy runs with the same --seed end with the same weights, with and without XLA.

  python bench/seed_reproducibility.py      # ~1-2 minutes on 2 cores

Two runs of 50 generator steps (25gaussians, 3 x 16, batch 32, n_critic 2, 2 latent MALA
steps) per setting, in fresh model_dirs; prints the largest absolute difference between
their final weights (E, G and T).
"""

import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from engan_tf import training  # noqa: E402  pylint: disable=wrong-import-position


def weights(model_dir, jit):
  config = training.TrainConfig(dataset="25gaussians", model_dir=model_dir, dim=16,
                                batch_size=32, n_critic=2, train_steps=50, steps_per_epoch=25,
                                eval_every=0, verbose=0, jit_compile=jit, seed=3, mcmc_steps=2)
  model = training.train(config)["model"]
  return [w.numpy() for net in model.networks().values() for w in net.weights]


def main():
  with tempfile.TemporaryDirectory() as tmp:
    for jit in (False, True):
      a = weights(os.path.join(tmp, f"a{jit}"), jit)
      b = weights(os.path.join(tmp, f"b{jit}"), jit)
      diff = max(float(np.abs(x - y).max()) for x, y in zip(a, b))
      print(f"jit_compile={jit}: max abs weight difference {diff}")


if __name__ == "__main__":
  main()
