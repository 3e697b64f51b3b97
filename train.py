"""Trains EnGAN (Algorithm 1 of the paper) on a data set.

  python train.py              # no flags: configs/toy_25gaussians.cfg for 3,000 steps (~5 min)
  python train.py --flagfile=configs/toy_25gaussians.cfg
  python train.py --dataset=cifar10 --flagfile=configs/cifar10.cfg --data_dir=...

Every flag is a field of engan_tf.config.TrainConfig (or DatasetOptions), defined there
once. Running the same command again resumes from the last checkpoint in --model_dir.
TensorBoard: tensorboard --logdir=<model_dir>/tensorboard
"""

import os
import sys

from absl import app
from absl import flags

from engan_tf import cli

cli.define_train_flags()
FLAGS = flags.FLAGS


def main(argv):
  cli.start(argv)
  from engan_tf import training  # after flag parsing: --help stays fast
  config = cli.train_config_from_flags()
  try:
    summary = training.train(config)
  except (ValueError, FileNotFoundError, training.TrainingDiverged) as e:
    cli.fail("train.py", e)
  print("final evaluation:", ", ".join(f"{k}={v:.4g}" for k, v in summary["final_eval"].items()))
  results = [name for name in ("samples.png", "final_eval.json", "eval.jsonl", "tensorboard")
             if os.path.exists(os.path.join(config.model_dir, name))]
  print(f"results in {config.model_dir}: {', '.join(results)}")


# With no flags at all, the embedded default: the tuned 25gaussians config, shortened to a
# few minutes on 2 CPU cores. (The flags' own defaults are the paper's Algorithm 1 values.)
_DEFAULT_RUN = [f"--flagfile={os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs', 'toy_25gaussians.cfg')}",
                "--train_steps=3000"]

if __name__ == "__main__":
  if len(sys.argv) == 1:
    print("no flags given: training the default, " + " ".join(_DEFAULT_RUN))
    sys.argv += _DEFAULT_RUN
  app.run(main)
