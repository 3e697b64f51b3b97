"""Trains EnGAN (Algorithm 1 of the paper) on a data set.

  python train.py              # no flags: configs/toy_25gaussians.cfg for 3,000 steps (~5 min)
  python train.py --flagfile=configs/toy_25gaussians.cfg
  python train.py --dataset=cifar10 --flagfile=configs/cifar10.cfg --data_dir=...
  engan-train --flagfile=configs/kddcup99_tuned.cfg --print_config   # the config, no training

Every flag is a field of engan_tf.config.TrainConfig (or DatasetOptions), defined there
once. --flagfile=configs/NAME.cfg reads the configs shipped in engan_tf/configs/ from any
directory. Running the same command again resumes from the last checkpoint in --model_dir.
TensorBoard: tensorboard --logdir=<model_dir>/tensorboard
"""

import os
import sys

from absl import flags

from engan_tf import cli

FLAGS = flags.FLAGS

# With no flags at all, the embedded default: the tuned 25gaussians config, shortened to a
# few minutes on 2 CPU cores: its first 3,000 steps, at the constant rates it uses up to its
# learning-rate decay (which starts at step 3,000 of 5,000), without its denoising term,
# which pays only after the decay (at step 3,000 three seeds with it had 18, 13 and 25 of
# 25 modes; BUILD_NOTES seventeenth session), and with the score penalty (lambda 0.001) in
# place of its data-space negatives, and 5 latent MALA steps in place of its latent jumps,
# both measured over the whole config only (twenty-third and twenty-fifth sessions): the
# recipe the numbers in README were measured with. (The flags' own defaults are the
# paper's Algorithm 1 values.)
_DEFAULT_RUN = [f"--flagfile={os.path.join(cli.CONFIGS_DIR, 'toy_25gaussians.cfg')}",
                "--train_steps=3000", "--lr_decay_start=1", "--dsm_weight=0",
                "--lambda_penalty=0.001", "--negative_data_steps=0", "--mcmc_steps=5",
                "--mcmc_jump_steps=0"]


def define_flags():
  cli.define_train_flags()


def main(argv):
  cli.start(argv)
  config = cli.train_config_from_flags()
  try:
    config.validate()  # a bad value fails here, before TensorFlow loads (seconds)
  except ValueError as e:
    cli.fail(cli.tool_name(), e)
  if FLAGS.print_config:
    print(config.to_json())
    return
  from engan_tf import training  # after flag parsing: --help stays fast
  try:
    summary = training.train(config)
  except (ValueError, FileNotFoundError, training.TrainingDiverged) as e:
    cli.fail(cli.tool_name(), e)
  print("final evaluation:", ", ".join(f"{k}={v:.4g}" for k, v in summary["final_eval"].items()))
  import tensorflow as tf  # loaded by training already
  results = [name for name in ("samples.png", "final_eval.json", "eval.jsonl", "tensorboard")
             if tf.io.gfile.exists(os.path.join(config.model_dir, name))]  # gs:// too
  print(f"results in {config.model_dir}: {', '.join(results)}")


def run(argv=None):
  """Entry point of `python train.py` and `engan-train`."""
  argv = list(sys.argv if argv is None else argv)
  if len(argv) == 1:
    print("no flags given: training the default, " + " ".join(_DEFAULT_RUN))
    argv += _DEFAULT_RUN
  define_flags()
  cli.run(main, argv, usage=__doc__)


if __name__ == "__main__":
  run()
