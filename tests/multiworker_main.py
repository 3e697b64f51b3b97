"""One worker of the 2-process MultiWorkerMirroredStrategy tests (run by test_multiworker.py).

  TF_CONFIG=... python tests/multiworker_main.py BATCH.npz SGD_OUT.npz MODEL_DIR TRAIN_OUT.npz

Both checks in one pair of processes (one TensorFlow start-up and one cluster, not two):
first one SGD step on this worker's half of a fixed batch with the noise fed as data, then
a short training run, under the same strategy (a process can start its collective ops once).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from engan_tf import distribute  # noqa: E402
from engan_tf import training  # noqa: E402
import test_training  # noqa: E402  (the SGD model of the single-device test)


def weights(model):
  return [v.numpy() for v in model.energy.weights + model.generator.weights
          + model.statistics.weights]


def sgd_step(strategy, batch_path):
  batch = dict(np.load(batch_path))

  def dataset_fn(ctx):
    half = len(batch["x"]) // ctx.num_input_pipelines
    rows = slice(ctx.input_pipeline_id * half, (ctx.input_pipeline_id + 1) * half)
    return tf.data.Dataset.from_tensors({k: v[rows] for k, v in batch.items()}).repeat()

  with strategy.scope():
    model = test_training._sgd_model()
  # One step of train_step in replica context, as fit runs it (fit's own pre-build pass
  # cannot reduce a dict of per-replica values under this strategy).
  batch_on_worker = next(iter(strategy.distribute_datasets_from_function(dataset_fn)))
  tf.function(lambda b: strategy.run(model.train_step, args=(b,)))(batch_on_worker)
  return model


def train(strategy, model_dir):
  real_make_strategy = distribute.make_strategy

  def this_strategy(name):  # train() asks for one: it gets the strategy already started
    assert name == "multi_worker_mirrored", name
    return strategy

  distribute.make_strategy = this_strategy
  try:
    config = training.TrainConfig(dataset="25gaussians", model_dir=model_dir, dim=32,
                                  batch_size=64, train_steps=6, steps_per_epoch=3,
                                  eval_every=0, verbose=0, strategy="multi_worker_mirrored")
    return training.train(config)["model"]
  finally:
    distribute.make_strategy = real_make_strategy


def main(batch_path, sgd_out, model_dir, train_out):
  strategy = distribute.make_strategy("multi_worker_mirrored")
  np.savez(sgd_out, *weights(sgd_step(strategy, batch_path)))
  np.savez(train_out, *weights(train(strategy, model_dir)))


if __name__ == "__main__":
  main(*sys.argv[1:])
