"""The command-line tools: train, sample, evaluate, export and score a model_dir.

Each module owns one tool: its usage (the module docstring, which --help prints), its flags
(defined by `define_flags()`, not at import, so the modules import side by side) and
`run()`, the entry point of both forms of the command:

  python train.py ...          the top-level scripts of a checkout (thin shims)
  engan-train ...              the console scripts of an install (setup.py entry_points)

Imports absl and engan_tf.cli only; TensorFlow loads after the flags are parsed, so --help
answers at once.
"""
