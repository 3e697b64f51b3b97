"""engan-tf: EnGAN in TensorFlow/Keras (energy E, generator G, statistics network T).

The few things a user needs, at the top level (imported on first use, so that importing
the package loads nothing and the command-line tools answer --help before TensorFlow
loads):

  engan_tf.train(dataset="25gaussians", model_dir="runs/x", train_steps=2000, ...)
      trains (or resumes) a run; keyword arguments are TrainConfig fields
  engan_tf.load(model_dir)          the trained model: .energy, .generator, .config,
                                    .score(x), .sample(n)
  engan_tf.export(model_dir, export_dir)    TF Serving SavedModels
  engan_tf.AnomalyDetector          a scikit-learn-style outlier detector
  engan_tf.EnGAN, engan_tf.TrainConfig      for writing your own fit loop or config

Example (trains a model and writes /tmp/8g: not run by the doctests):
  >>> import engan_tf
  >>> result = engan_tf.train(dataset="8gaussians", model_dir="/tmp/8g",  # doctest: +SKIP
  ...                         train_steps=500)
  >>> model = engan_tf.load("/tmp/8g")  # doctest: +SKIP
  >>> model.sample(16).shape  # doctest: +SKIP
  (16, 2)
"""

__version__ = "0.1.0"

_LAZY = {
    "train": ("engan_tf.api", "train"),
    "load": ("engan_tf.api", "load"),
    "export": ("engan_tf.api", "export"),
    "TrainedModel": ("engan_tf.api", "TrainedModel"),
    "AnomalyDetector": ("engan_tf.detector", "AnomalyDetector"),
    "EnGAN": ("engan_tf.model", "EnGAN"),
    "TrainConfig": ("engan_tf.config", "TrainConfig"),
}
__all__ = sorted(_LAZY)


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f"module 'engan_tf' has no attribute {name!r}")
  import importlib  # pylint: disable=g-import-not-at-top
  module, attribute = _LAZY[name]
  value = getattr(importlib.import_module(module), attribute)
  globals()[name] = value
  return value
