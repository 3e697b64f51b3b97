"""What the command-line tools that read a trained model_dir share: flags and start-up.

evaluate.py, export.py and sample.py take the same three flags:

  --model_dir    a model_dir written by train.py (required)
  --checkpoint   latest (its last checkpoint) or selected (the model train.py
                 --select_metric kept); engan_tf.training.restore(..., checkpoint=...)
  --data_dir     local data files (default: the one the run was trained with)

Imports absl only, so that a tool's --help answers before TensorFlow loads.
"""

from absl import app
from absl import flags
from absl import logging

# Which weights of a model_dir a tool reads (engan_tf.training.restore's `checkpoint`).
CHECKPOINTS = ("latest", "selected")


def define_model_dir_flags():
  flags.DEFINE_string("model_dir", None, "A model_dir written by train.py.", required=True)
  flags.DEFINE_enum("checkpoint", "latest", list(CHECKPOINTS),
                    "Which model: the last checkpoint, or the one train.py --select_metric kept.")
  flags.DEFINE_string("data_dir", None, "Local data files (default: the run's --data_dir).")


def start(argv):
  """The tools' common start of main(): no stray arguments, quiet logs."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
