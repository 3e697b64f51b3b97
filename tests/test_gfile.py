"""Every file the tools write goes through tf.io.gfile: a model_dir on TensorFlow's
in-memory filesystem (ram://) stands in for gs:// and the like."""

import io
import json

import numpy as np
import pytest
import tensorflow as tf

from engan_tf import training
from engan_tf import visualize
from engan_tf.config import TrainConfig
from engan_tf.tools import sample


@pytest.fixture(scope="module")
def ram_model_dir():
  model_dir = "ram://test_gfile/run"
  training.train(TrainConfig(dataset="8gaussians", model_dir=model_dir, dim=8, batch_size=16,
                             train_steps=4, steps_per_epoch=2, eval_every=0, verbose=0,
                             jit_compile=False, n_critic=1))
  return model_dir


def _load_npy(path):
  with tf.io.gfile.GFile(path, "rb") as f:
    return np.load(io.BytesIO(f.read()))


def test_training_writes_its_model_dir_through_gfile(ram_model_dir):
  for name in ("config.json", "checkpoints", "tensorboard", "samples.png"):
    assert tf.io.gfile.exists(f"{ram_model_dir}/{name}"), name
  assert training.restore(ram_model_dir).model.step == 4


def test_sample_writes_every_output_through_gfile(ram_model_dir):
  output_dir = "ram://test_gfile/out"
  stats = sample.sample(sample.SampleOptions(
      model_dir=ram_model_dir, output_dir=output_dir, num_samples=64, mcmc_steps=3,
      chunk_steps=2, adapt_step_size=2, plot_samples=64, verbose=0))
  assert sorted(tf.io.gfile.listdir(output_dir)) == [
      "initial.png", "latents.npy", "samples.npy", "samples.png", "stats.json"]
  assert _load_npy(f"{output_dir}/samples.npy").shape == (64, 2)
  assert _load_npy(f"{output_dir}/latents.npy").shape[0] == 64
  with tf.io.gfile.GFile(f"{output_dir}/stats.json") as f:
    assert json.load(f) == json.loads(json.dumps(stats))
  for name in ("initial.png", "samples.png"):
    png = tf.io.read_file(f"{output_dir}/{name}")
    assert tf.io.decode_png(png).shape[-1] == 3


def test_save_png_writes_through_gfile():
  image = np.zeros([4, 6, 3], np.uint8)
  image[1, 2] = [255, 0, 7]
  visualize.save_png(image, "ram://test_gfile/pictures/one.png")
  assert tf.io.gfile.listdir("ram://test_gfile/pictures") == ["one.png"]  # no temp file left
  np.testing.assert_array_equal(
      tf.io.decode_png(tf.io.read_file("ram://test_gfile/pictures/one.png")).numpy(), image)
