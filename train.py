"""Trains EnGAN (Algorithm 1 of the paper) on a data set.

  python train.py              # no flags: configs/toy_25gaussians.cfg for 3,000 steps (~5 min)
  python train.py --flagfile=configs/toy_25gaussians.cfg
  python train.py --dataset=cifar10 --flagfile=configs/cifar10.cfg --data_dir=...

Running the same command again resumes from the last checkpoint in --model_dir.
TensorBoard: tensorboard --logdir=<model_dir>/tensorboard
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags
from absl import logging

from engan_tf import training

_D = training.TrainConfig()

flags.DEFINE_string("dataset", _D.dataset, "Data set name (see engan_tf.data.dataset_names()).")
flags.DEFINE_string("model_dir", None, "Where checkpoints, TensorBoard logs and results go "
                    "(default: runs/<dataset>). Never deleted; an existing run is resumed.")
flags.DEFINE_string("data_dir", None, "Directory with local copies of the data set's files.")
flags.DEFINE_enum("model", _D.model, list(training.MODELS),
                  "engan, or the wgan_gp baseline (same data, networks and budget).")
flags.DEFINE_string("networks", None, "Network family (default: the data set's).")
flags.DEFINE_integer("dim", None, "Width of the networks (default: the family's).")
flags.DEFINE_integer("latent_dim", None, "Latent dimension (default: the data set's).")
flags.DEFINE_integer("train_steps", _D.train_steps, "Generator updates in total.")
flags.DEFINE_float("max_train_minutes", _D.max_train_minutes,
                   "Also stop after this many minutes of training in this process (0: no "
                   "limit); the run is checkpointed and evaluated as at --train_steps.")
flags.DEFINE_integer("batch_size", _D.batch_size, "Global minibatch size.")
flags.DEFINE_integer("n_critic", _D.n_critic, "Energy updates per generator update (n_phi).")
flags.DEFINE_float("lambda_penalty", _D.lambda_penalty, "Score penalty coefficient lambda.")
flags.DEFINE_float("learning_rate", _D.learning_rate, "Adam learning rate of the three nets.")
flags.DEFINE_float("energy_learning_rate", _D.energy_learning_rate,
                   "The energy's Adam learning rate, if not --learning_rate.")
flags.DEFINE_float("beta_1", _D.beta_1, "Adam beta_1.")
flags.DEFINE_float("beta_2", _D.beta_2, "Adam beta_2.")
flags.DEFINE_enum("shuffle", _D.shuffle, ["per_dimension", "rows"],
                  "How the MI estimator's negatives are drawn from the latent batch.")
flags.DEFINE_float("mi_noise_std", _D.mi_noise_std,
                   "Std of Gaussian noise added to G(z) before the statistics network (0: "
                   "the paper); keeps the JSD entropy term from saturating.")
flags.DEFINE_enum("entropy", _D.entropy, list(training.ENTROPY_TERMS),
                  "The generator's entropy term: jsd_mi = -I_JSD(G(z); z) with T (the paper); "
                  "logdet = -mean log|det dG/dz| (exact, latent_dim == data dimension only; a "
                  "diagnostic).")
flags.DEFINE_float("entropy_weight", _D.entropy_weight,
                   "Weight of the entropy term in the generator's loss, L_G = mean E(G(z)) + "
                   "w * L_H (1: the paper); with --entropy=logdet, G targets exp(-E / w).")
flags.DEFINE_integer("mcmc_steps", _D.mcmc_steps,
                     "Latent MALA steps before each negative phase (n_mcmc).")
flags.DEFINE_float("mcmc_step_size", _D.mcmc_step_size,
                   "Latent MALA step size alpha (paper units).")
flags.DEFINE_enum("strategy", _D.strategy, list(training.STRATEGIES),
                  "tf.distribute strategy (multi_worker_mirrored reads TF_CONFIG).")
flags.DEFINE_integer("seed", _D.seed, "Random seed.")
flags.DEFINE_integer("steps_per_epoch", _D.steps_per_epoch,
                     "Generator steps between checkpoints and summaries.")
flags.DEFINE_integer("eval_every", _D.eval_every, "Epochs between evaluations (0: at the end).")
flags.DEFINE_integer("steps_per_execution", _D.steps_per_execution,
                     "Generator steps per tf.function call.")
flags.DEFINE_bool("jit_compile", _D.jit_compile, "XLA-compile the train step (one device).")
flags.DEFINE_float("ema_decay", _D.ema_decay,
                   "> 0: evaluate, checkpoint and export a moving average of the energy's "
                   "weights with this decay per generator step (e.g. 0.999).")
flags.DEFINE_string("select_metric", _D.select_metric,
                    "Keep the evaluated model that maximises this evaluation metric in "
                    "model_dir/selected/ (e.g. score_norm/val_auroc_shuffled, label-free, with "
                    "--validation_share); export.py --checkpoint=selected exports it.")
flags.DEFINE_bool("mixed_precision", _D.mixed_precision,
                  "Compute in bfloat16 with float32 variables and outputs (for accelerators).")
flags.DEFINE_integer("num_threads", _D.num_threads,
                     "CPU threads for TensorFlow (0: TensorFlow's default, all cores).")
flags.DEFINE_integer("verbose", _D.verbose, "Keras verbosity: 0 silent, 1 progress bar, 2 lines.")
# Data-set options, passed to the data set's loader when given.
flags.DEFINE_integer("anomaly_digit", None, "mnist_anomaly: the held-out (anomalous) digit.")
flags.DEFINE_string("data_path", None, "csv: the CSV file to train on.")
flags.DEFINE_string("label_column", None, "csv: a label column to drop from the features.")
flags.DEFINE_list("categorical_columns", None, "csv: columns to one-hot encode.")
flags.DEFINE_float("validation_share", None, "kddcup99, csv: hold out this share of the "
                   "normal training rows for label-free model selection (e.g. 0.1).")
flags.DEFINE_string("mode_classifier", None, "stacked_mnist*: a saved MNIST classifier "
                    "(python -m engan_tf.metrics.mnist_classifier); evaluations count modes.")

FLAGS = flags.FLAGS
_DATASET_OPTIONS = ("anomaly_digit", "data_path", "label_column", "categorical_columns",
                    "mode_classifier", "validation_share")


def config_from_flags():
  fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
  values = {name: FLAGS[name].value for name in fields if name in FLAGS}
  values["model_dir"] = FLAGS.model_dir or f"runs/{FLAGS.dataset}"
  values["dataset_options"] = {name: FLAGS[name].value for name in _DATASET_OPTIONS
                               if FLAGS[name].value is not None}
  return training.TrainConfig(**values)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  try:
    summary = training.train(config_from_flags())
  except (ValueError, FileNotFoundError, training.TrainingDiverged) as e:
    print(f"train.py: error: {e}", file=sys.stderr)
    sys.exit(2)
  print("final evaluation:", ", ".join(f"{k}={v:.4g}" for k, v in summary["final_eval"].items()))
  model_dir = FLAGS.model_dir or f"runs/{FLAGS.dataset}"
  results = [name for name in ("samples.png", "final_eval.json", "eval.jsonl", "tensorboard")
             if os.path.exists(os.path.join(model_dir, name))]
  print(f"results in {model_dir}: {', '.join(results)}")


# With no flags at all, the embedded default: the tuned 25gaussians config, shortened to a
# few minutes on 2 CPU cores. (The flags' own defaults are the paper's Algorithm 1 values.)
_DEFAULT_RUN = [f"--flagfile={os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs', 'toy_25gaussians.cfg')}",
                "--train_steps=3000"]

if __name__ == "__main__":
  if len(sys.argv) == 1:
    print("no flags given: training the default, " + " ".join(_DEFAULT_RUN))
    sys.argv += _DEFAULT_RUN
  app.run(main)
