"""Every flagfile in configs/ parses with train.py's flags into a valid TrainConfig."""

import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in its own process: train.py defines absl flags at import, which other CLIs share.
_PARSE_ALL = r"""
import json, sys
import train
from engan_tf import data, networks
out = {}
for path in sys.argv[1:]:
  train.FLAGS.unparse_flags()
  train.FLAGS(["train.py", f"--flagfile={path}"])
  config = train.cli.train_config_from_flags()
  config.validate()
  out[path] = {"dataset": config.dataset, "networks": config.networks,
               "known_dataset": config.dataset in data.dataset_names(),
               "known_networks": config.networks is None
                                 or config.networks in networks.network_names()}
print(json.dumps(out))
"""


def test_every_config_parses_into_a_valid_train_config():
  configs = sorted(glob.glob("configs/*.cfg", root_dir=ROOT))
  assert "configs/toy_25gaussians.cfg" in configs and "configs/kddcup99_tuned.cfg" in configs
  proc = subprocess.run([sys.executable, "-c", _PARSE_ALL, *configs], cwd=ROOT,
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert proc.returncode == 0, proc.stderr[-3000:]
  parsed = json.loads(proc.stdout.strip().splitlines()[-1])
  assert sorted(parsed) == configs
  for path, config in parsed.items():
    assert config["known_dataset"], (path, config["dataset"])
    assert config["known_networks"], (path, config["networks"])


def test_the_config_choices_are_the_registered_names():
  """config.py lists --dataset/--networks choices without importing TensorFlow: check them."""
  from engan_tf import config  # pylint: disable=g-import-not-at-top
  from engan_tf import data  # pylint: disable=g-import-not-at-top
  from engan_tf import networks  # pylint: disable=g-import-not-at-top
  assert sorted(config.DATASETS) == data.dataset_names()
  assert sorted(config.NETWORKS) == networks.network_names()


def test_every_train_flag_is_a_config_field_with_its_default():
  from absl import flags  # pylint: disable=g-import-not-at-top
  from engan_tf import cli  # pylint: disable=g-import-not-at-top
  from engan_tf import config  # pylint: disable=g-import-not-at-top
  flag_values = flags.FlagValues()
  cli.define_config_flags(config.TrainConfig, flag_values)
  flag_values(["train.py", "--n_critic=3", "--networks=kdd", "--energy_learning_rate=2e-5"])
  parsed = config.TrainConfig(**cli.config_values(config.TrainConfig, flag_values))
  assert parsed == config.TrainConfig(n_critic=3, networks="kdd", energy_learning_rate=2e-5)
  assert "enum" in flag_values["networks"].flag_type()
