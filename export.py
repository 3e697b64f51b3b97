"""Exports a trained model_dir as TF Serving SavedModels: `python export.py --model_dir=...
--export_dir=...` (engan-export).

The tool lives in engan_tf/tools/export.py (its docstring is the usage --help prints).
"""

from engan_tf.tools import export

if __name__ == "__main__":
  export.run()
