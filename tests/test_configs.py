"""The flagfiles of engan_tf/configs/: each parses into a valid TrainConfig, from any
directory (nested flagfiles are found next to the file that names them), and ./configs is
the committed link to them."""

import glob
import json
import os
import subprocess
import sys

import pytest
from absl import flags

from engan_tf import cli
from engan_tf import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob("*.cfg", root_dir=os.path.join(ROOT, "engan_tf", "configs")))


def _parse(argv):
  """The TrainConfig train.py makes of argv (its flags on a fresh FlagValues)."""
  flag_values = flags.FlagValues()
  cli.define_train_flags(flag_values)
  flag_values(cli.expand_flagfiles(argv))
  return cli.train_config_from_flags(flag_values)


def test_every_config_parses_into_a_valid_train_config_from_any_directory(tmp_path,
                                                                          monkeypatch):
  from engan_tf import data  # pylint: disable=g-import-not-at-top
  from engan_tf import networks  # pylint: disable=g-import-not-at-top
  assert "toy_25gaussians.cfg" in CONFIGS and "kddcup99_tuned.cfg" in CONFIGS
  monkeypatch.chdir(tmp_path)  # no configs/ here: the shipped ones are read
  for name in CONFIGS:
    config = _parse(["train.py", f"--flagfile=configs/{name}"])
    config.validate()
    assert config.dataset in data.dataset_names(), (name, config.dataset)
    assert config.networks is None or config.networks in networks.network_names(), name


def test_nested_configs_read_their_neighbours_and_later_flags_win(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  tuned = _parse(["train.py", "--flagfile=configs/kddcup99_tuned.cfg", "--seed=3"])
  paper = _parse(["train.py", "--flagfile=configs/kddcup99.cfg"])
  assert (paper.dataset, paper.networks, paper.lambda_penalty) == ("kddcup99", "kdd", 1e5)
  assert tuned == config_lib.TrainConfig(**{
      **vars(paper), "networks": "kdd_quadratic_energy", "lambda_penalty": 1e8,
      "learning_rate": 5e-5, "ema_decay": 0.999, "train_steps": 20000,
      "steps_per_epoch": 500, "seed": 3})
  toy = _parse(["train.py", "--flagfile=configs/toy_8gaussians.cfg"])
  assert (toy.dataset, toy.energy_learning_rate, toy.train_steps) == ("8gaussians", 5e-5, 4000)
  # Measured (twenty-fourth and twenty-fifth sessions): latent jumps in place of latent MALA,
  # on 8gaussians from the first step, on 25gaussians from 60% of the steps.
  toy25 = _parse(["train.py", "--flagfile=configs/toy_25gaussians.cfg"])
  assert ((toy.mcmc_steps, toy.mcmc_jump_steps, toy.mcmc_jump_start),
          (toy25.mcmc_steps, toy25.mcmc_jump_steps, toy25.mcmc_jump_start)) == (
              (0, 10, 0.0), (0, 10, 0.6))
  # 8gaussians inherits the 25gaussians config's learning-rate decay and denoising term
  # (measured on both, twenty-third session).
  assert (toy25.lr_decay_start, toy25.lr_decay_final, toy.lr_decay_start) == (0.6, 0.0, 0.6)
  assert (toy25.dsm_weight, toy25.dsm_sigma, toy.dsm_weight) == (10.0, 2.0, 10.0)
  # The sampler's step: 25gaussians' and 8gaussians' 1e-5, swissroll's own 1e-3.
  roll = _parse(["train.py", "--flagfile=configs/toy_swissroll.cfg"])
  assert roll == config_lib.TrainConfig(**{
      **vars(toy25), "dataset": "swissroll", "model_dir": "runs/toy_swissroll",
      "dsm_sigma": 1.0, "sample_step_size": 1e-3, "lambda_penalty": 1e-3,
      "negative_data_steps": 0, "mcmc_steps": 5, "mcmc_jump_steps": 0})
  # Data-space negatives without the score penalty: 25gaussians and 8gaussians (measured
  # on both), not swissroll (above).
  # 8gaussians takes half the steps at twice alpha (the same diffusion; the 2-core budget).
  assert ((toy25.lambda_penalty, toy25.negative_data_steps, toy25.negative_data_step_size),
          (toy.lambda_penalty, toy.negative_data_steps, toy.negative_data_step_size)) == (
              (0.0, 10, 3e-4), (0.0, 5, 6e-4))
  assert (toy25.sample_step_size, toy.sample_step_size) == (1e-5, 1e-5)


def test_a_nested_flagfile_is_found_next_to_its_includer_before_the_cwd(tmp_path,
                                                                      monkeypatch):
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "base.cfg").write_text("--dataset=8gaussians\n--n_critic=2\n")
  (tmp_path / "mine" / "run.cfg").write_text(
      "# mine\n--flagfile=base.cfg\n\n// also a comment\n--n_critic=3\n")
  (tmp_path / "base.cfg").write_text("--dataset=swissroll\n")  # the cwd's: not this one
  monkeypatch.chdir(tmp_path)
  assert cli.expand_flagfiles(["x", "--flagfile", "mine/run.cfg", "--seed=1", "--",
                               "--flagfile=kept.cfg"]) == [
      "x", "--dataset=8gaussians", "--n_critic=2", "--n_critic=3", "--seed=1", "--",
      "--flagfile=kept.cfg"]
  (tmp_path / "mine" / "base.cfg").unlink()  # then the cwd's
  assert cli.expand_flagfiles(["x", "--flagfile=mine/run.cfg"])[1] == "--dataset=swissroll"


def test_a_missing_or_circular_flagfile_names_what_was_looked_for(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  (tmp_path / "a.cfg").write_text("--seed=1\n--flagfile=gone.cfg\n")
  with pytest.raises(cli.FlagfileError, match=r"--flagfile=gone.cfg \(line 2 of .*a.cfg\): "
                     r"no such file; looked for .*gone.cfg"):
    cli.expand_flagfiles(["x", "--flagfile=a.cfg"])
  with pytest.raises(cli.FlagfileError, match="configs/nope.cfg: no such file; looked for "
                     + os.path.join(str(tmp_path), "configs", "nope.cfg") + ", "
                     + os.path.join(cli.CONFIGS_DIR, "nope.cfg")):
    cli.expand_flagfiles(["x", "--flagfile=configs/nope.cfg"])
  (tmp_path / "loop.cfg").write_text("--flagfile=loop.cfg\n")
  with pytest.raises(cli.FlagfileError, match="includes itself"):
    cli.expand_flagfiles(["x", "--flagfile=loop.cfg"])


def _train_py(*args, cwd):
  return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *args], cwd=cwd,
                        capture_output=True, text=True, timeout=120,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_train_py_from_another_directory_prints_the_nested_config(tmp_path):
  expected = _parse(["train.py", f"--flagfile={cli.CONFIGS_DIR}/kddcup99_tuned.cfg",
                     "--seed=3"])
  for flagfile in (os.path.join(ROOT, "configs", "kddcup99_tuned.cfg"),
                   "configs/kddcup99_tuned.cfg"):
    proc = _train_py(f"--flagfile={flagfile}", "--seed=3", "--print_config", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout)
    assert config_lib.TrainConfig(**printed) == expected
    assert printed["networks"] == "kdd_quadratic_energy" and printed["batch_size"] == 256
  assert not os.listdir(tmp_path)  # nothing trained, nothing written


def test_train_py_names_a_missing_flagfile_in_one_line(tmp_path):
  proc = _train_py("--flagfile=configs/nope.cfg", "--print_config", cwd=tmp_path)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "train.py: error: --flagfile=configs/nope.cfg: no such file; looked for "
      f"{tmp_path}/configs/nope.cfg, {cli.CONFIGS_DIR}/nope.cfg"]


def test_configs_is_the_committed_link_to_the_shipped_configs():
  link = os.path.join(ROOT, "configs")
  assert os.path.islink(link) and os.readlink(link) == os.path.join("engan_tf", "configs")
  assert sorted(os.listdir(link)) == CONFIGS
  proc = subprocess.run(["git", "ls-files", "-s", "configs"], cwd=ROOT, capture_output=True,
                        text=True)
  if proc.returncode != 0 or not proc.stdout:
    pytest.skip("not a git checkout")
  assert proc.stdout.split()[0] == "120000"  # git stores it as a symlink


def test_the_config_choices_are_the_registered_names():
  """config.py lists --dataset/--networks choices without importing TensorFlow: check them."""
  from engan_tf import data  # pylint: disable=g-import-not-at-top
  from engan_tf import networks  # pylint: disable=g-import-not-at-top
  assert sorted(config_lib.DATASETS) == data.dataset_names()
  assert sorted(config_lib.NETWORKS) == networks.network_names()


def test_every_train_flag_is_a_config_field_with_its_default():
  flag_values = flags.FlagValues()
  cli.define_config_flags(config_lib.TrainConfig, flag_values)
  flag_values(["train.py", "--n_critic=3", "--networks=kdd", "--energy_learning_rate=2e-5"])
  parsed = config_lib.TrainConfig(**cli.config_values(config_lib.TrainConfig, flag_values))
  assert parsed == config_lib.TrainConfig(n_critic=3, networks="kdd", energy_learning_rate=2e-5)
  assert "enum" in flag_values["networks"].flag_type()
