"""Exports a trained model_dir as TF Serving SavedModels (a sampler and a scorer).

  python export.py --model_dir=runs/25gaussians --export_dir=exported   # or engan-export
  # -> exported/sampler/<step>/ and exported/scorer/<step>/   (signatures: engan_tf/serving.py)
  tensorflow_model_server --rest_api_port=8501 --model_config_file=serving/models.config

The version defaults to the checkpoint's training step; an existing version is never
overwritten. The checkpoint is only read.
"""

from absl import flags

from engan_tf import cli

FLAGS = flags.FLAGS


def define_flags():
  cli.define_model_dir_flags()
  flags.DEFINE_string("export_dir", None, "Where <export_dir>/{sampler,scorer}/<version> go.",
                      required=True)
  flags.DEFINE_integer("version", None, "Version directory name (default: the training step).")
  flags.DEFINE_float("anomaly_threshold", None,
                     "Anomaly decision threshold (default: the data set's fitted one).")
  flags.DEFINE_enum("decision_function", None, ["score_norm", "energy"],
                    "Anomaly models: the exported decision function (default: the one the "
                    "held-out validation rows preferred at training, anomaly_threshold.json).")
  flags.DEFINE_bool("sampler_mixed_precision", False,
                    "The sampler's G and E in bfloat16 compute around the same weights: "
                    "for batches of chains (1,000 toy chains: 1.6x the chain-steps/s on 2 "
                    "AMD EPYC cores with AVX512_BF16; one chain is slower; BUILD_NOTES "
                    "twenty-first session); the scorer stays as trained.")


def main(argv):
  cli.start(argv)
  from engan_tf import serving as export_lib  # after flag parsing: --help stays fast
  try:
    paths = export_lib.export(FLAGS.model_dir, FLAGS.export_dir, version=FLAGS.version,
                              data_dir=FLAGS.data_dir, anomaly_threshold=FLAGS.anomaly_threshold,
                              checkpoint=FLAGS.checkpoint,
                              decision_function=FLAGS.decision_function,
                              sampler_mixed_precision=FLAGS.sampler_mixed_precision)
  except (ValueError, FileNotFoundError, FileExistsError) as e:
    cli.fail(cli.tool_name(), e)
  for name, path in paths.items():
    print(f"{name}: {path}")


# Entry point of `python export.py` and `engan-export`.
run = cli.entry_point(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
