"""What the command-line tools share: flags generated from the config, and start-up.

`define_config_flags(TrainConfig)` defines one absl flag per field of a config dataclass
(engan_tf.config), with the field's default, help text and enum choices: an option is
defined once, in its dataclass. The tools that read a trained model_dir (evaluate.py,
export.py, sample.py) take the same three flags (`define_model_dir_flags`):

  --model_dir    a model_dir written by train.py (required)
  --checkpoint   latest (its last checkpoint) or selected (the model train.py
                 --select_metric kept); engan_tf.training.restore(..., checkpoint=...)
  --data_dir     local data files (default: the one the run was trained with)

Imports absl and engan_tf.config only, so that a tool's --help answers before TensorFlow
loads.
"""

import dataclasses
import sys
import typing

from absl import app
from absl import flags
from absl import logging

from engan_tf import config as config_lib

# Which weights of a model_dir a tool reads (engan_tf.training.restore's `checkpoint`).
CHECKPOINTS = ("latest", "selected")


def _flag_type(annotation):
  """The plain type of a field: Optional[X] -> X."""
  if typing.get_origin(annotation) is typing.Union:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0]
  return annotation


def define_config_flags(config_class, flag_values=flags.FLAGS, defaults=None):
  """Defines a flag for every field of `config_class` whose metadata does not opt out."""
  defaults = defaults or {}
  for field in dataclasses.fields(config_class):
    if not field.metadata.get("flag", True) or field.name in flag_values:
      continue
    default = defaults.get(field.name, field.default)
    if default is dataclasses.MISSING:
      default = None
    help_text = field.metadata.get("help", field.name)
    kind = _flag_type(field.type)
    choices = field.metadata.get("choices")
    kwargs = dict(flag_values=flag_values)
    if choices:
      flags.DEFINE_enum(field.name, default, list(choices), help_text, **kwargs)
    elif kind is bool:
      flags.DEFINE_bool(field.name, default, help_text, **kwargs)
    elif kind is int:
      flags.DEFINE_integer(field.name, default, help_text, **kwargs)
    elif kind is float:
      flags.DEFINE_float(field.name, default, help_text, **kwargs)
    elif typing.get_origin(kind) is list:
      flags.DEFINE_list(field.name, default, help_text, **kwargs)
    else:
      flags.DEFINE_string(field.name, default, help_text, **kwargs)


def config_values(config_class, flag_values=flags.FLAGS):
  """{field: flag value} for the fields of `config_class` that have a flag."""
  return {f.name: flag_values[f.name].value for f in dataclasses.fields(config_class)
          if f.name in flag_values and f.metadata.get("flag", True)}


def define_train_flags():
  """train.py's flags: every TrainConfig field and every DatasetOptions field."""
  define_config_flags(config_lib.TrainConfig, defaults={"model_dir": None})
  define_config_flags(config_lib.DatasetOptions)


def train_config_from_flags(flag_values=flags.FLAGS):
  """The TrainConfig the parsed flags ask for (model_dir defaults to runs/<dataset>)."""
  values = config_values(config_lib.TrainConfig, flag_values)
  values["model_dir"] = values["model_dir"] or f"runs/{values['dataset']}"
  options = config_values(config_lib.DatasetOptions, flag_values)
  values["dataset_options"] = {k: v for k, v in options.items() if v is not None}
  return config_lib.TrainConfig(**values)


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


def fail(tool, error):
  """Ends a tool with one clear line on stderr (no traceback) and exit status 2."""
  print(f"{tool}: error: {error}", file=sys.stderr)
  sys.exit(2)
