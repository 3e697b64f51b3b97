"""engan-tf: EnGAN (latent-space MCMC and maximum-entropy generators for energy-based models)."""

from setuptools import find_packages
from setuptools import setup

setup(
    name="engan-tf",
    version="0.1.0",
    description="EnGAN energy-based models with latent-space MCMC, in TensorFlow/Keras",
    packages=find_packages(include=["engan_tf", "engan_tf.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=[
        # tf-keras is what TFP imports; it pins TensorFlow, so the two move together.
        "tensorflow>=2.21,<2.22",
        "tf-keras>=2.21,<2.22",
        "keras>=3.15,<4",
        "tensorflow-probability>=0.25,<0.26",
        "tensorflow-datasets>=4.9.10,<4.10",
        "importlib_resources",  # tfds 4.9.10 imports it without declaring it
        "tensorboard>=2.21,<2.22",
        "tensorflow-serving-api>=2.21,<2.22",  # warm-up records of the exported SavedModels
        "absl-py>=2",
        "numpy>=1.26",
    ],
    extras_require={
        "test": ["pytest>=8", "scikit-learn>=1.4"],
        # Only to convert the FID Inception weights (engan_tf.metrics.fid_inception convert);
        # this exact version, as others pull a multi-GB CUDA build.
        "convert": ["torch==2.13.0"],
    },
)
