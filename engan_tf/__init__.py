"""engan-tf: EnGAN in TensorFlow/Keras (energy E, generator G, statistics network T).

Modules are imported on demand (`from engan_tf import training`); importing the package
itself loads nothing, so the command-line tools answer --help before TensorFlow loads.
"""

__version__ = "0.1.0"
