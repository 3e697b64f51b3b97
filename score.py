"""Scores a CSV of raw records with a trained tabular model: `python score.py
--model_dir=... --input=records.csv --output=scored.csv` (engan-score).

The tool lives in engan_tf/tools/score.py (its docstring is the usage --help prints).
"""

from engan_tf.tools import score

if __name__ == "__main__":
  score.run()
