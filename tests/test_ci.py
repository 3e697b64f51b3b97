"""CI honesty: in CI the data tests run or the session fails; no project module is skipped."""

import ast
import glob
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_TINY_TESTS = '''
def test_without_data():
  pass


def test_with_data(data_dir):
  assert data_dir
'''


def _pytest_with_this_conftest(tmp_path, **env):
  """Runs pytest on a tiny test file beside a copy of tests/conftest.py."""
  shutil.copy(os.path.join(ROOT, "tests", "conftest.py"), tmp_path / "conftest.py")
  (tmp_path / "test_tiny.py").write_text(_TINY_TESTS)
  environ = {k: v for k, v in os.environ.items() if k not in ("CI", "ENGAN_TF_TEST_DATA")}
  environ.update(env, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                         str(tmp_path)], cwd=tmp_path, env=environ, capture_output=True,
                        text=True, timeout=300)


def test_ci_fails_the_session_when_the_data_directory_is_missing(tmp_path):
  missing = tmp_path / "no_such_data"
  proc = _pytest_with_this_conftest(tmp_path, CI="true", ENGAN_TF_TEST_DATA=str(missing))
  output = proc.stdout + proc.stderr
  assert proc.returncode != 0, output
  assert (f"CI=true but ENGAN_TF_TEST_DATA={missing} is not a directory: point it at the "
          "shared data sets") in output
  assert "passed" not in output and "Traceback" not in output
  unset = _pytest_with_this_conftest(tmp_path, CI="true")
  assert unset.returncode != 0 and "ENGAN_TF_TEST_DATA is not set" in unset.stderr


def test_outside_ci_the_data_tests_are_skipped(tmp_path):
  proc = _pytest_with_this_conftest(tmp_path, ENGAN_TF_TEST_DATA=str(tmp_path / "none"))
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert "1 passed, 1 skipped" in proc.stdout
  assert "set ENGAN_TF_TEST_DATA" in proc.stdout


def test_ci_run_sets_ci_and_the_data_directory():
  with open(os.path.join(ROOT, ".ci", "run")) as f:
    script = f.read()
  assert 'export CI="${CI:-true}"' in script
  assert "ENGAN_TF_TEST_DATA" in script and "shared/data" in script


def test_no_test_skips_on_an_import_error_of_the_project():
  """pytest.importorskip is for optional third-party packages: a broken engan_tf module
  must fail its tests, not skip them."""
  offenders = []
  for path in sorted(glob.glob(os.path.join(ROOT, "tests", "*.py"))):
    with open(path) as f:
      tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
      if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
          and node.args and isinstance(node.args[0], ast.Constant)
          and str(node.args[0].value).split(".")[0] == "engan_tf"):
        offenders.append(f"{os.path.basename(path)}:{node.lineno} {node.args[0].value}")
  assert not offenders, "import these plainly: " + ", ".join(offenders)
