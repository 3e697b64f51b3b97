"""Evaluates a trained model_dir: `python evaluate.py --model_dir=...` (engan-evaluate).

The tool lives in engan_tf/tools/evaluate.py (its docstring is the usage --help prints).
"""

from engan_tf.tools import evaluate

if __name__ == "__main__":
  evaluate.run()
