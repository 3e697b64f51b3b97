"""Test set-up: quiet TensorFlow, two logical CPU devices, and the local data sets.

Tests that need the real data files read them from $ENGAN_TF_TEST_DATA (.ci/run points it
at ../shared/data) and are skipped when it is unset.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs, so MirroredStrategy tests have two replicas on a CPU-only machine.
# This must happen before TensorFlow initialises its devices.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture
def data_dir():
  """The directory with the real data sets (mnist/, kddcup99/, cifar10-subset/)."""
  path = os.environ.get("ENGAN_TF_TEST_DATA")
  if not path or not os.path.isdir(path):
    pytest.skip("set ENGAN_TF_TEST_DATA to the shared data directory to run this test")
  return path
