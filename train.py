"""Trains EnGAN: `python train.py --flagfile=configs/toy_25gaussians.cfg` (engan-train).

The tool lives in engan_tf/tools/train.py (its docstring is the usage --help prints).
"""

from engan_tf.tools import train

if __name__ == "__main__":
  train.run()
