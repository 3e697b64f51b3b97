"""What the command-line tools share: flags generated from the config, and start-up.

`define_config_flags(TrainConfig)` defines one absl flag per field of a config dataclass
(engan_tf.config), with the field's default, help text and enum choices: an option is
defined once, in its dataclass. The tools that read a trained model_dir (evaluate.py,
export.py, sample.py) take the same three flags (`define_model_dir_flags`):

  --model_dir    a model_dir written by train.py (required)
  --checkpoint   latest (its last checkpoint) or selected (the model train.py
                 --select_metric kept); engan_tf.training.restore(..., checkpoint=...)
  --data_dir     local data files (default: the one the run was trained with)

`expand_flagfiles(argv)` reads the `--flagfile=` arguments before absl does: a flagfile
named inside another one is found next to the file that names it (then in the current
directory), and `--flagfile=configs/NAME.cfg` falls back to the configs shipped in
engan_tf/configs/, so every tool runs the same from any directory.

Imports absl and engan_tf.config only, so that a tool's --help answers before TensorFlow
loads.
"""

import dataclasses
import os
import sys
import typing

from absl import app
from absl import flags
from absl import logging

from engan_tf import config as config_lib

# Which weights of a model_dir a tool reads (engan_tf.training.restore's `checkpoint`).
CHECKPOINTS = ("latest", "selected")

# The flagfiles shipped with the package (package data; ./configs links here in a checkout).
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


class FlagfileError(ValueError):
  """A --flagfile that cannot be read; the message names every path looked at."""


def _flagfile_candidates(name, including_file):
  """Where --flagfile=name may be, in order of preference."""
  name = os.path.expanduser(name)
  if os.path.isabs(name):
    return [name]
  candidates = []
  if including_file:  # a config names its neighbours by their file name
    candidates.append(os.path.join(os.path.dirname(including_file), name))
  candidates.append(os.path.abspath(name))
  parts = os.path.normpath(name).split(os.sep)
  if parts[0] == "configs" and len(parts) > 1:  # configs/NAME.cfg outside a checkout
    candidates.append(os.path.join(CONFIGS_DIR, *parts[1:]))
  return list(dict.fromkeys(os.path.normpath(c) for c in candidates))


def resolve_flagfile(name, including_file=None, line=None):
  """The absolute path of --flagfile=name (named on `line` of `including_file`, if any)."""
  candidates = _flagfile_candidates(name, including_file)
  for candidate in candidates:
    if os.path.isfile(candidate):
      return candidate
  where = f" (line {line} of {including_file})" if including_file else ""
  raise FlagfileError(f"--flagfile={name}{where}: no such file; looked for "
                      + ", ".join(candidates))


def _is_flagfile(arg):
  return arg in ("--flagfile", "-flagfile") or arg.startswith(("--flagfile=", "-flagfile="))


def _flagfile_lines(path, stack):
  """The flags of a flagfile, nested flagfiles expanded in place (as absl reads them)."""
  if path in stack:
    raise FlagfileError(f"--flagfile={path}: includes itself (via {' -> '.join(stack)})")
  try:
    with open(path) as f:
      lines = f.readlines()
  except OSError as e:
    raise FlagfileError(f"--flagfile={path}: cannot read it ({e.strerror})") from None
  flags_read = []
  for number, line in enumerate(lines, 1):
    line = line.strip()
    if not line or line.startswith(("#", "//")):
      continue
    if _is_flagfile(line):
      name = line.split("=", 1)[1].strip() if "=" in line else ""
      if not name:
        raise FlagfileError(f"{path}, line {number}: --flagfile needs a file name")
      flags_read += _flagfile_lines(resolve_flagfile(name, path, number), stack + [path])
    else:
      flags_read.append(line)
  return flags_read


def expand_flagfiles(argv):
  """argv with each --flagfile=FILE replaced by FILE's flags, read recursively.

  The order of the flags is absl's (a flagfile's flags stand where it is named, later flags
  win); only where the files are looked for differs (see `resolve_flagfile`). Arguments
  after `--` are left alone. Raises FlagfileError naming the paths it looked for.
  """
  expanded, rest = list(argv[:1]), list(argv[1:])
  while rest:
    arg = rest.pop(0)
    if arg == "--":
      expanded += [arg] + rest
      break
    if not _is_flagfile(arg):
      expanded.append(arg)
      continue
    if "=" in arg:
      name = arg.split("=", 1)[1]
    elif rest:
      name = rest.pop(0)
    else:
      raise FlagfileError(f"{arg} needs a file name")
    expanded += _flagfile_lines(resolve_flagfile(name.strip()), [])
  return expanded


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


def define_train_flags(flag_values=flags.FLAGS):
  """train.py's flags: every TrainConfig field and every DatasetOptions field, and
  --print_config (the only one that is not a field: it asks for no training)."""
  define_config_flags(config_lib.TrainConfig, flag_values, defaults={"model_dir": None})
  define_config_flags(config_lib.DatasetOptions, flag_values)
  flags.DEFINE_bool("print_config", False, "Print the TrainConfig the other flags ask for "
                    "(JSON, validated) and exit without training.", flag_values=flag_values)


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


def tool_name(argv=None):
  """What the user typed to start the tool (train.py, engan-train, ...), for messages."""
  return os.path.basename((argv or sys.argv)[0])


def run(main, argv=None, usage=None):
  """A tool's entry point: its --flagfile arguments expanded (`expand_flagfiles`), then
  absl's app.run(main). A flagfile that is not found ends it with one line. `usage` is
  what --help prints (absl prints the __main__ module's docstring: a shim's or a console
  script's wrapper would say nothing)."""
  argv = list(sys.argv if argv is None else argv)
  if usage:
    sys.modules["__main__"].__doc__ = usage
  try:
    argv = expand_flagfiles(argv)
  except FlagfileError as e:
    fail(tool_name(argv), e)
  app.run(main, argv=argv)


def start(argv):
  """The tools' common start of main(): no stray arguments, quiet logs."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)


def fail(tool, error):
  """Ends a tool with one clear line on stderr (no traceback) and exit status 2."""
  print(f"{tool}: error: {error}", file=sys.stderr)
  sys.exit(2)


def entry_point(define_flags, main, usage):
  """The `run(argv=None)` of a tool: its flags defined, then `run(main, argv, usage)`."""

  def run_tool(argv=None):
    define_flags()
    run(main, argv, usage=usage)

  return run_tool
