"""Samples a trained EnGAN with MALA: `python sample.py --model_dir=...` (engan-sample).

The tool lives in engan_tf/tools/sample.py (its docstring is the usage --help prints).
"""

from engan_tf.tools import sample

if __name__ == "__main__":
  sample.run()
