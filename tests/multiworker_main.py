"""One worker of the 2-process MultiWorkerMirroredStrategy tests (run by test_multiworker.py).

  TF_CONFIG=... python tests/multiworker_main.py train MODEL_DIR OUT.npz
  TF_CONFIG=... python tests/multiworker_main.py sgd_step BATCH.npz OUT.npz
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from engan_tf import training  # noqa: E402
import test_training  # noqa: E402  (the SGD model of the single-device test)


def weights(model):
  return [v.numpy() for v in model.energy.weights + model.generator.weights
          + model.statistics.weights]


def main(mode, arg, out):
  if mode == "train":
    config = training.TrainConfig(dataset="25gaussians", model_dir=arg, dim=32, batch_size=64,
                                  train_steps=6, steps_per_epoch=3, eval_every=0, verbose=0,
                                  strategy="multi_worker_mirrored")
    model = training.train(config)["model"]
  else:  # one SGD step on this worker's half of a fixed batch with the noise fed as data
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    batch = dict(np.load(arg))

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
  np.savez(out, *weights(model))


if __name__ == "__main__":
  main(*sys.argv[1:])
