"""What a training run measures and shows, per kind of data.

`evaluate(model, source, final, step)` returns an `Evaluation`: scalar metrics (to
TensorBoard and `model_dir/eval.jsonl`) and a picture (to TensorBoard and, at the end,
`model_dir/<picture_name>.png`), titled with the step and the metrics (engan_tf.visualize):

  toy             the density exp(-E)/Z with samples and mode centres   samples.png
  image           a sample grid                                          samples.png
  tabular, image_anomaly   the final evaluation's histogram of test scores (the decision
                  function the thresholds name), normal vs anomalous, with the threshold
                  line; periodic evaluations draw none (it scores the test set again)
                                                                         scores.png

A kind of data registers its evaluator with `register_evaluator(kind)`.
"""

import collections

import numpy as np
import tensorflow as tf

from engan_tf import visualize
from engan_tf.metrics import toy as toy_metrics

# picture_name: the TensorBoard image tag and the model_dir PNG's name.
Evaluation = collections.namedtuple("Evaluation", ["metrics", "picture", "picture_name"],
                                    defaults=["samples"])

_EVALUATORS = {}


def register_evaluator(kind):

  def wrap(fn):
    _EVALUATORS[kind] = fn
    return fn

  return wrap


def evaluate(model, source, final=False, step=None, **options) -> Evaluation:
  """The kind's evaluation at generator `step` (in picture titles; None: untitled);
  `options` go to evaluators that take them (false_alarm_rate)."""
  if source.kind not in _EVALUATORS:
    return Evaluation({}, None)
  return _EVALUATORS[source.kind](model, source, final, step=step, **options)


def generate(model, num_samples, seed=1234, batch=10000):
  """num_samples generator samples from a fixed latent draw (comparable across evals)."""
  z = tf.random.stateless_normal([num_samples, model.latent_dim], [seed, 0])
  return np.concatenate([model.generator(z[i:i + batch], training=False).numpy()
                         for i in range(0, num_samples, batch)])


@register_evaluator("toy")
def evaluate_toy(model, source, final, step=None, num_samples=10_000, **unused):
  density = source.toy_density
  samples = generate(model, num_samples)
  true_x = toy_metrics.reference_samples(density, num_samples)
  metrics = toy_metrics.sample_statistics(samples, density, true_x)
  if final and density.mode_centers is None:  # swissroll: what true samples score
    metrics["nearest_true_distance_floor"] = toy_metrics.distance_floor(density, num_samples)
  # The final evaluation uses a fine grid (cell ~0.7 of the 25gaussians std); periodic
  # ones a coarser, cheaper one.
  metrics.update(toy_metrics.log_likelihood(
      model.energy, true_x, points_per_axis=640 if final else 256))
  picture = visualize.density_picture(model.energy, samples[:2000], density.mode_centers,
                                      title=visualize.toy_title(step, metrics))
  return Evaluation(metrics, picture)


@register_evaluator("tabular")
@register_evaluator("image_anomaly")
def evaluate_anomaly(model, source, final, step=None, false_alarm_rate=0.05,
                     decision_function=None):
  """Both decision functions on the held-out test set (engan_tf.anomaly); at the final
  evaluation also the histogram of test scores of `decision_function` (None: the one
  `fit_thresholds` picks)."""
  from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
  metrics = anomaly.evaluate(model.energy, source.anomaly, false_alarm_rate)
  if not final or not len(source.anomaly.x_test):
    return Evaluation(metrics, None, "scores")
  return Evaluation(metrics, score_picture(model.energy, source.anomaly, step,
                                           false_alarm_rate, metrics, decision_function),
                    "scores")


def score_picture(energy, data, step, false_alarm_rate, metrics, decision_function=None):
  """The test scores of the exported decision function, normal vs anomalous, with its
  threshold (engan_tf.visualize.score_histogram)."""
  from engan_tf import anomaly  # pylint: disable=g-import-not-at-top
  thresholds = anomaly.fit_thresholds(energy, data, step or 0, false_alarm_rate,
                                      decision_function)
  name = thresholds.decision_function
  scores = anomaly.score(energy, data.x_test)[name]
  parts = [] if step is None else [f"step {step}"]
  parts.append(f"{name} on {len(scores):,} test rows")
  if f"{name}/f1_at_threshold" in metrics:
    parts.append(f"F1 at threshold {metrics[name + '/f1_at_threshold']:.3f}")
  if f"{name}/auroc" in metrics:
    parts.append(f"AUROC {metrics[name + '/auroc']:.3f}")
  return visualize.score_histogram(scores, data.y_test, thresholds.threshold, name,
                                   title="   ".join(parts))


@register_evaluator("image")
def evaluate_image(model, source, final, step=None, grid_samples=64, **unused):
  """A grid of samples; on StackedMNIST with a classifier, modes and KL (26 x 10^n samples)."""
  from engan_tf.metrics import modes  # image metrics need the classifier code only here
  metrics = {}
  counting = source.images.modes if source.images else None
  if counting is not None and counting.classifier_path:
    classifier = modes.mnist_classifier.load_classifier(counting.classifier_path)
    samples = generate(model, modes.samples_per_evaluation(counting.num_stacks))
    metrics.update(modes.mode_statistics_of_samples(classifier, samples))
  # Captioned when the step is known (training); a bare grid otherwise.
  caption = None if step is None else "   ".join([f"step {step}"] + [
      f"{k} {v:.3g}" for k, v in metrics.items() if k in ("modes", "kl")])
  picture = visualize.image_grid(generate(model, grid_samples), caption=caption)
  return Evaluation(metrics, picture)
