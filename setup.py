"""engan-tf: EnGAN (latent-space MCMC and maximum-entropy generators for energy-based models)."""

from setuptools import find_packages
from setuptools import setup

setup(
    name="engan-tf",
    version="0.1.0",
    description="EnGAN energy-based models with latent-space MCMC, in TensorFlow/Keras",
    packages=find_packages(include=["engan_tf", "engan_tf.*"]),
    # The flagfiles: train.py --flagfile=configs/NAME.cfg finds them from any directory.
    package_data={"engan_tf": ["configs/*.cfg"]},
    # The same tools as python train.py etc. in a checkout (engan_tf/tools/).
    entry_points={"console_scripts": [
        "engan-train = engan_tf.tools.train:run",
        "engan-sample = engan_tf.tools.sample:run",
        "engan-evaluate = engan_tf.tools.evaluate:run",
        "engan-export = engan_tf.tools.export:run",
        "engan-score = engan_tf.tools.score:run",
    ]},
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
        "pillow>=8",  # engan_tf/visualize.py: axes, legends and titles (TensorBoard brings it too)
        "tensorflow-serving-api>=2.21,<2.22",  # warm-up records of the exported SavedModels
        "absl-py>=2",
        "numpy>=1.26",
        "scipy>=1.11",  # engan_tf.metrics.inception: the matrix square root of FID
        "h5py>=3",  # engan_tf.metrics.fid_inception: the float16 copy of the FID weights (keras needs it too)
    ],
    extras_require={
        # pandas: the estimator takes DataFrames (tests); scikit-learn: its checks and baselines;
        # pytest-xdist: the suite's two workers (pytest.ini).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "scikit-learn>=1.4", "pandas>=2"],
        # Only to convert the FID Inception weights (engan_tf.metrics.fid_inception convert);
        # this exact version, as others pull a multi-GB CUDA build.
        "convert": ["torch==2.13.0"],
    },
)
