"""Test set-up: quiet TensorFlow, two logical CPU devices, and the local data sets.

Tests that need the real data files read them from $ENGAN_TF_TEST_DATA (.ci/run points it
at ../shared/data). Locally they are skipped when it is unset; in CI (CI=true, which .ci/run
sets) a missing data directory fails the whole session instead, so that a green CI run
means the data tests ran.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402


def pytest_collection_finish(session):
  """Two logical CPUs, so MirroredStrategy tests have two replicas on a CPU-only machine.

  After collection, before any test runs: TensorFlow's devices are not initialised yet
  (test modules only import it). A session whose tests never import TensorFlow (the
  tiny ones tests/test_ci.py runs beside this file) does not pay its import.
  """
  del session
  tf = sys.modules.get("tensorflow")
  if tf is not None:
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


def _in_ci():
  return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _test_data():
  """$ENGAN_TF_TEST_DATA if it is a directory, else None."""
  path = os.environ.get("ENGAN_TF_TEST_DATA")
  return path if path and os.path.isdir(path) else None


def pytest_configure(config):
  del config
  if _in_ci() and _test_data() is None:
    given = os.environ.get("ENGAN_TF_TEST_DATA")
    problem = f"ENGAN_TF_TEST_DATA={given} is not a directory" if given else (
        "ENGAN_TF_TEST_DATA is not set")
    raise pytest.UsageError(
        f"CI=true but {problem}: point it at the shared data sets (mnist/, kddcup99/, "
        "cifar10-subset/; .ci/run uses ../shared/data) instead of skipping the data tests")


@pytest.fixture
def data_dir():
  """The directory with the real data sets (mnist/, kddcup99/, cifar10-subset/)."""
  path = _test_data()
  if path is None:
    pytest.skip("set ENGAN_TF_TEST_DATA to the shared data directory to run this test")
  return path
