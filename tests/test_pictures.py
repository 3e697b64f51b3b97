"""Pictures (engan_tf/visualize.py) and what a run's logs look like.

No pixel-perfect checks: the pictures are written as PNGs of the expected size, the title,
axes, colour bar and legend code runs, and an anomaly run leaves its score histogram.
"""

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from engan_tf import training
from engan_tf import visualize
from engan_tf.data import toy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read_png(path):
  return tf.io.decode_png(tf.io.read_file(str(path))).numpy()


def test_density_picture_has_axes_colour_bar_legend_and_title(tmp_path):
  centers = toy._grid25_centers()  # pylint: disable=protected-access
  energy = lambda x, training=False: tf.reduce_sum(x * x, axis=1)  # exp(-E): one Gaussian
  samples = np.random.default_rng(0).normal(size=(200, 2)) * 0.5
  title = visualize.toy_title(300, {"modes_covered": 24, "num_modes": 25,
                                    "high_quality_fraction": 0.83, "log_likelihood": 0.41})
  assert title == "step 300   modes 24/25   high quality 83%   log-lik 0.41"
  picture = visualize.density_picture(energy, samples, centers, size=128, title=title)
  bare = visualize.colormap(np.zeros([128, 128]))
  # The raster plus margins: axes and ticks left and below, the title above, the bar right.
  assert picture.dtype == np.uint8 and picture.shape[2] == 3
  assert picture.shape[0] > bare.shape[0] + 40 and picture.shape[1] > bare.shape[1] + 100
  visualize.save_png(picture, str(tmp_path / "density.png"))
  assert _read_png(tmp_path / "density.png").shape == picture.shape


def test_image_grid_caption_and_plain_grid():
  images = np.zeros([4, 8, 8, 1], np.float32)
  plain = visualize.image_grid(images)
  captioned = visualize.image_grid(images, caption="step 7")
  assert plain.shape == (20, 20, 3)
  assert captioned.shape[0] > plain.shape[0] and captioned.shape[1] >= plain.shape[1]


@pytest.mark.parametrize("labelled", [True, False])
def test_score_histogram(tmp_path, labelled):
  rng = np.random.default_rng(0)
  scores = np.concatenate([rng.lognormal(0, 1, 900), rng.lognormal(3, 1, 100), [np.nan]])
  labels = np.concatenate([np.zeros(900), np.ones(100), [1]]) if labelled else None
  picture = visualize.score_histogram(scores, labels, threshold=8.0, name="score_norm",
                                      title="step 5   score_norm on 1,001 test rows")
  assert picture.shape[0] > 240 and picture.shape[1] > 480
  visualize.save_png(picture, str(tmp_path / "scores.png"))
  assert os.path.getsize(tmp_path / "scores.png") > 1000
  # Scores of any sign: a linear axis.
  assert visualize.score_histogram(rng.normal(size=50), None, 0.0).shape[2] == 3


def test_an_anomaly_run_leaves_its_score_histogram(tmp_path):
  rng = np.random.default_rng(0)
  path = str(tmp_path / "table.csv")
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["a", "b", "label"])
    for i in range(400):
      anomalous = i % 10 == 0
      writer.writerow([f"{rng.normal() + 5 * anomalous:.4f}", f"{rng.normal():.4f}",
                       int(anomalous)])
  model_dir = str(tmp_path / "run")
  training.train(training.TrainConfig(
      dataset="csv", model_dir=model_dir, dim=8, latent_dim=2, batch_size=32, n_critic=1,
      train_steps=10, steps_per_epoch=10, eval_every=0, verbose=0, jit_compile=False,
      ensemble_size=1, dataset_options={"data_path": path, "label_column": "label"}))
  picture = _read_png(os.path.join(model_dir, "scores.png"))
  assert picture.shape[0] > 240 and picture.shape[1] > 480
  assert not os.path.exists(os.path.join(model_dir, "samples.png"))


def test_verbose_auto_is_a_progress_bar_on_a_terminal_and_one_line_per_epoch_otherwise():

  class Terminal(io.StringIO):

    def isatty(self):
      return True

  assert training.resolve_verbose(None, Terminal()) == 1
  assert training.resolve_verbose(None, io.StringIO()) == 2
  assert training.resolve_verbose(1, io.StringIO()) == 1  # --verbose given: kept
  assert training.resolve_verbose(0, Terminal()) == 0


def test_a_run_with_stdout_in_a_pipe_logs_one_line_per_epoch(tmp_path):
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "train.py"), "--dataset=8gaussians",
       f"--model_dir={tmp_path / 'run'}", "--dim=8", "--batch_size=16", "--train_steps=4",
       "--steps_per_epoch=2", "--eval_every=0", "--nojit_compile", "--n_critic=1"],
      cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "\r" not in proc.stdout and "\x08" not in proc.stdout  # no progress-bar updates
  assert proc.stdout.count("Epoch ") == 2 and "2/2 - " in proc.stdout, proc.stdout
  assert "will be ignored" not in proc.stderr  # fit(shuffle=False) on the infinite dataset


def test_a_long_title_widens_the_picture_instead_of_being_cut_off():
  scores = np.random.default_rng(0).lognormal(0, 1, 200)
  short = visualize.score_histogram(scores, None, 2.0, title="step 5")
  title = ("step 20000   score_norm on 247,011 test rows   F1 at threshold 0.906   "
           "AUROC 0.997   and more words")
  long = visualize.score_histogram(scores, None, 2.0, title=title)
  assert long.shape[0] == short.shape[0] and long.shape[1] > short.shape[1]
  band = long[:22].min(axis=2) < 128  # the title's dark pixels
  last = np.flatnonzero(band.any(axis=0)).max()
  assert last < long.shape[1] - 2  # white margin after the title's last letter
