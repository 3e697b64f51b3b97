"""Evaluates a trained model_dir (its last checkpoint) with its data set's evaluator.

  python evaluate.py --model_dir=runs/kdd_s0 [--data_dir=DIR] [--checkpoint=selected]
  engan-evaluate --model_dir=runs/kdd_s0        # the same, installed

For the anomaly data sets (kddcup99, csv, mnist_anomaly) this scores the held-out test set
with both decision functions (score norm ||grad_x E(x)||^2 and energy E(x)): precision,
recall, F1 with the top 20% flagged, the share flagged, AUROC, AUPRC, and recall and
false-alarm rate at the saved threshold. It writes model_dir/evaluate.json
(evaluate_selected.json for --checkpoint=selected) through the run's RunDir; anomaly
thresholds that belong to another step than the last checkpoint are refitted and saved.
"""

from absl import flags

from engan_tf import cli

FLAGS = flags.FLAGS


def define_flags():
  cli.define_model_dir_flags()


def main(argv):
  cli.start(argv)
  from engan_tf import evaluation  # pylint: disable=g-import-not-at-top
  from engan_tf import rundir  # pylint: disable=g-import-not-at-top
  from engan_tf import training  # pylint: disable=g-import-not-at-top
  try:
    restored = training.restore(FLAGS.model_dir, data_dir=FLAGS.data_dir,
                                checkpoint=FLAGS.checkpoint)
  except (ValueError, FileNotFoundError) as e:
    cli.fail(cli.tool_name(), e)
  result = evaluation.evaluate(restored.model, restored.source, final=True,
                               false_alarm_rate=restored.config.false_alarm_rate)
  record = {"step": restored.model.step, "dataset": restored.config.dataset,
            "checkpoint": FLAGS.checkpoint, **result.metrics}
  run_dir = rundir.RunDir(FLAGS.model_dir)
  filename = run_dir.write_evaluate(record, FLAGS.checkpoint)
  if FLAGS.checkpoint == "latest" and restored.thresholds is not None:
    run_dir.save_thresholds(restored.thresholds)  # refitted if they belonged to another step
  for name, value in sorted(result.metrics.items()):
    print(f"{name} = {value:.6g}")
  print(f"wrote {FLAGS.model_dir}/{filename}")


# Entry point of `python evaluate.py` and `engan-evaluate`.
run = cli.entry_point(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
