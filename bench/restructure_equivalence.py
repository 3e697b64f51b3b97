r"""Is a training change bit-identical? Trains the same short toy run in two git trees.

  git worktree add --detach /tmp/before 1016af1      # the tree before the restructuring
  PYTHONPATH=. python bench/restructure_equivalence.py --before=/tmp/before --after=.

Each tree's train.py runs in its own process after `keras.utils.set_random_seed(seed)` (the
earlier tree did not seed its initial weights itself), with latent MCMC off (--mcmc_steps=0:
the two trees draw MALA seeds differently, so chains cannot match), for --steps generator
steps of configs/toy_25gaussians.cfg; then every variable of the two final checkpoints
(networks, weight average, optimizer iterations, random generator state; not the optimizer
slots) is compared. Prints the largest absolute difference (0.0 = identical).
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

_RUN = ("import runpy, sys, keras; tree = sys.argv[1]; sys.path.insert(0, tree); "
        "keras.utils.set_random_seed(int(sys.argv[2])); "
        "sys.argv = [tree + '/train.py'] + sys.argv[3:]; "
        "runpy.run_path(tree + '/train.py', run_name='__main__')")


def train(tree, model_dir, steps, seed):
  flags = [f"--flagfile={os.path.join(tree, 'configs/toy_25gaussians.cfg')}", "--mcmc_steps=0",
           f"--train_steps={steps}", "--steps_per_epoch=50", "--eval_every=0", f"--seed={seed}",
           f"--model_dir={model_dir}", "--verbose=0"]
  env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="2")
  subprocess.run([sys.executable, "-c", _RUN, tree, str(seed), *flags], cwd=tree, env=env,
                 check=True, stdout=subprocess.DEVNULL)


def variables(model_dir):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(f"{model_dir}/checkpoints"))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if "OPTIMIZER_SLOT" not in k and "_CHECKPOINTABLE" not in k}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--before", required=True)
  parser.add_argument("--after", required=True)
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    runs = {}
    for name in ("before", "after"):
      tree = os.path.abspath(getattr(args, name))
      train(tree, f"{tmp}/{name}", args.steps, args.seed)
      runs[name] = variables(f"{tmp}/{name}")
  before, after = runs["before"], runs["after"]
  if set(before) != set(after):
    print("checkpoint keys differ:", sorted(set(before) ^ set(after)))
  shared = sorted(set(before) & set(after))
  worst = max(float(np.max(np.abs(before[k].astype(np.float64) - after[k].astype(np.float64))))
              if before[k].size else 0.0 for k in shared)
  print(f"{len(shared)} variables after {args.steps} steps: max abs difference {worst}")


if __name__ == "__main__":
  main()
