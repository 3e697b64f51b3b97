"""What a training run measures and shows, per kind of data.

`evaluate(model, source, final)` returns an `Evaluation`: scalar metrics (to TensorBoard
and `model_dir/eval.jsonl`) and a picture (to TensorBoard and, at the end, a PNG). A kind
of data registers its evaluator with `register_evaluator(kind)`.
"""

import collections

import numpy as np
import tensorflow as tf

from engan_tf import visualize
from engan_tf.metrics import toy as toy_metrics

Evaluation = collections.namedtuple("Evaluation", ["metrics", "picture"])

_EVALUATORS = {}


def register_evaluator(kind):

  def wrap(fn):
    _EVALUATORS[kind] = fn
    return fn

  return wrap


def evaluate(model, source, final=False, **options) -> Evaluation:
  """The kind's evaluation; `options` go to evaluators that take them (false_alarm_rate)."""
  if source.kind not in _EVALUATORS:
    return Evaluation({}, None)
  return _EVALUATORS[source.kind](model, source, final, **options)


def generate(model, num_samples, seed=1234, batch=10000):
  """num_samples generator samples from a fixed latent draw (comparable across evals)."""
  z = tf.random.stateless_normal([num_samples, model.latent_dim], [seed, 0])
  return np.concatenate([model.generator(z[i:i + batch], training=False).numpy()
                         for i in range(0, num_samples, batch)])


@register_evaluator("toy")
def evaluate_toy(model, source, final, num_samples=10_000, **unused):
  density = source.toy_density
  samples = generate(model, num_samples)
  metrics = {}
  if density.mode_centers is not None:
    metrics.update(toy_metrics.mode_statistics(samples, density.mode_centers, density.mode_std))
  true_x = density.sample(tf.constant([4321, 0]), num_samples).numpy()
  # The final evaluation uses a fine grid (cell ~0.7 of the 25gaussians std); periodic
  # ones a coarser, cheaper one.
  metrics.update(toy_metrics.log_likelihood(
      model.energy, true_x, points_per_axis=640 if final else 256))
  picture = visualize.density_picture(model.energy, samples[:2000], density.mode_centers)
  return Evaluation(metrics, picture)


@register_evaluator("tabular")
@register_evaluator("image_anomaly")
def evaluate_anomaly(model, source, final, false_alarm_rate=0.05):
  """Both decision functions on the held-out test set (engan_tf.anomaly)."""
  del final  # the same (full test set) evaluation every time
  from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
  return Evaluation(anomaly.evaluate(model.energy, source.anomaly, false_alarm_rate), None)


@register_evaluator("image")
def evaluate_image(model, source, final, grid_samples=64, **unused):
  """A grid of samples; on StackedMNIST with a classifier, modes and KL (26 x 10^n samples)."""
  from engan_tf.metrics import modes  # image metrics need the classifier code only here
  metrics = {}
  counting = source.images.modes if source.images else None
  if counting is not None and counting.classifier_path:
    classifier = modes.mnist_classifier.load_classifier(counting.classifier_path)
    samples = generate(model, modes.samples_per_evaluation(counting.num_stacks))
    metrics.update(modes.mode_statistics_of_samples(classifier, samples))
  picture = visualize.image_grid(generate(model, grid_samples))
  return Evaluation(metrics, picture)
