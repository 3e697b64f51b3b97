"""setup.py ships what the library needs: every module, every dependency it imports, the
configs, and the console scripts (engan-train, ...) beside python train.py etc.

setup.py is read with `ast`, never executed: its install_requires, extras_require,
entry_points and package_data are literals.
"""

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from setuptools import find_packages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Import names whose distribution is named differently.
IMPORT_TO_DISTRIBUTION = {
    "absl": "absl-py",
    "google.protobuf": "protobuf",
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "tensorflow_datasets": "tensorflow-datasets",
    "tensorflow_probability": "tensorflow-probability",
    "tensorflow_serving": "tensorflow-serving-api",
    "yaml": "pyyaml",
}

# Imported but not declared: each comes with a declared distribution, which requires it.
TRANSITIVE = {
    "protobuf": "tensorflow",  # tests/test_export.py reads warm-up records (tf.Example)
    "setuptools": "tensorflow",  # tests/test_packaging.py: find_packages, as setup.py does
}

# (module, top-level import) pairs allowed only inside a function, never at module level:
# optional tools whose extra dependency the library does not declare.
OPTIONAL_IMPORTS = {
    # `python -m engan_tf.metrics.fid_inception convert` turns the pytorch-fid weights
    # into a Keras file once; nothing else in the library needs torch.
    ("engan_tf/metrics/fid_inception.py", "torch"):
        "the one-off weight conversion of fid_inception's convert command",
    # AnomalyDetector.__sklearn_tags__ is called by scikit-learn alone, which is then loaded.
    ("engan_tf/detector.py", "sklearn"):
        "the estimator tags scikit-learn asks an estimator for",
}


def _setup_keywords():
  """The keyword arguments of setup(...) in setup.py, as literals."""
  with open(os.path.join(ROOT, "setup.py")) as f:
    tree = ast.parse(f.read())
  calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
           and getattr(node.func, "id", None) == "setup"]
  assert len(calls) == 1, "setup.py should call setup(...) once"
  keywords = {}
  for keyword in calls[0].keywords:
    try:
      keywords[keyword.arg] = ast.literal_eval(keyword.value)
    except ValueError:
      keywords[keyword.arg] = keyword.value  # e.g. find_packages(...): not a literal
  return keywords


def _distribution(requirement):
  """'tensorflow-probability>=0.25,<0.26' -> 'tensorflow-probability' (normalised)."""
  name = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0)
  return re.sub(r"[-_.]+", "-", name).lower()


def _imports(directory):
  """[(path relative to ROOT, dotted name, inside a function?)] of every absolute import."""
  found = []
  for parent, _, files in os.walk(os.path.join(ROOT, directory)):
    for name in sorted(files):
      if not name.endswith(".py"):
        continue
      path = os.path.join(parent, name)
      with open(path) as f:
        tree = ast.parse(f.read(), path)
      relative = os.path.relpath(path, ROOT).replace(os.sep, "/")
      in_function = set()
      for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
          in_function.update(id(child) for child in ast.walk(node) if child is not node)
      for node in ast.walk(tree):
        if isinstance(node, ast.Import):
          modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
          modules = [node.module]
        else:
          continue
        found.extend((relative, module, id(node) in in_function) for module in modules)
  return found


def _required_distribution(module):
  """The distribution an import needs; None for the standard library."""
  top = module.split(".")[0]
  if top in sys.stdlib_module_names:
    return None
  if top == "google":  # a namespace package: the distribution depends on the subpackage
    return IMPORT_TO_DISTRIBUTION[".".join(module.split(".")[:2])]
  return _distribution(IMPORT_TO_DISTRIBUTION.get(top, top))


def _check_imports(directory, declared, local_modules):
  missing, optional_at_module_level = [], []
  for path, module, in_function in _imports(directory):
    top = module.split(".")[0]
    if top in local_modules:
      continue
    if (path, top) in OPTIONAL_IMPORTS:
      if not in_function:
        optional_at_module_level.append(f"{path}: import {module}")
      continue
    distribution = _required_distribution(module)
    if distribution is None or distribution in declared:
      continue
    if TRANSITIVE.get(distribution) in declared:
      continue
    missing.append(f"{path}: import {module} needs '{distribution}'")
  assert not missing, "add these to setup.py:\n" + "\n".join(sorted(set(missing)))
  assert not optional_at_module_level, (
      "optional dependencies are imported only inside the function that needs them:\n"
      + "\n".join(optional_at_module_level))


def test_every_module_directory_is_a_package_setup_py_finds():
  found = set(find_packages(where=ROOT, include=["engan_tf", "engan_tf.*"]))
  with open(os.path.join(ROOT, "setup.py")) as f:
    assert 'find_packages(include=["engan_tf", "engan_tf.*"])' in f.read()
  module_dirs = set()
  for directory, _, files in os.walk(os.path.join(ROOT, "engan_tf")):
    if "__pycache__" not in directory and any(name.endswith(".py") for name in files):
      module_dirs.add(os.path.relpath(directory, ROOT).replace(os.sep, "."))
  assert module_dirs == found


def test_every_library_import_is_in_install_requires():
  declared = {_distribution(r) for r in _setup_keywords()["install_requires"]}
  assert "scipy" in declared  # engan_tf.metrics.inception (FID's matrix square root)
  assert "torch" not in declared
  _check_imports("engan_tf", declared, local_modules={"engan_tf"})


def test_every_test_import_is_in_install_requires_or_the_test_extra():
  keywords = _setup_keywords()
  declared = {_distribution(r)
              for r in keywords["install_requires"] + keywords["extras_require"]["test"]}
  local = {os.path.splitext(name)[0] for name in os.listdir(os.path.join(ROOT, "tests"))}
  _check_imports("tests", declared, local_modules=local | {"engan_tf"})


def test_the_transitive_dependencies_are_required_by_what_they_come_with():
  for distribution, parent in TRANSITIVE.items():
    try:
      requires = importlib.metadata.requires(parent) or []
    except importlib.metadata.PackageNotFoundError:
      continue  # not installed here: nothing to check against
    assert distribution in {_distribution(r) for r in requires}, (distribution, parent)


TOOLS = ("train", "sample", "evaluate", "export", "score")


def test_console_scripts_are_the_tools_and_the_top_level_scripts_call_them():
  import importlib  # pylint: disable=g-import-not-at-top
  scripts = dict(line.replace(" ", "").split("=")
                 for line in _setup_keywords()["entry_points"]["console_scripts"])
  assert scripts == {f"engan-{tool}": f"engan_tf.tools.{tool}:run" for tool in TOOLS}
  for target in scripts.values():  # side by side: no flags are defined at import
    module, function = target.split(":")
    assert callable(getattr(importlib.import_module(module), function))
  for tool in TOOLS:  # python train.py etc.: thin shims of the same entry points
    with open(os.path.join(ROOT, f"{tool}.py")) as f:
      source = f.read()
    assert f"from engan_tf.tools import {tool}\n" in source
    assert f"  {tool}.run()\n" in source


@pytest.mark.parametrize("tool", TOOLS)
def test_help_answers_before_tensorflow_loads(tool):
  code = (f"import sys\nfrom engan_tf.tools import {tool}\nsys.argv = ['{tool}.py', '--help']\n"
          f"try:\n  {tool}.run()\nexcept SystemExit:\n  pass\n"
          "print('tensorflow loaded' if 'tensorflow' in sys.modules else 'no tensorflow')")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                        text=True, timeout=60)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip().endswith("no tensorflow"), proc.stdout[-500:]
  assert "--helpfull" in proc.stdout


def test_the_wheel_ships_the_configs_and_the_console_scripts(tmp_path):
  """Builds a wheel from a copy of the sources (the checkout stays clean)."""
  source = tmp_path / "src"
  shutil.copytree(os.path.join(ROOT, "engan_tf"), source / "engan_tf",
                  ignore=shutil.ignore_patterns("__pycache__"))
  shutil.copy(os.path.join(ROOT, "setup.py"), source)
  proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                         "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                         str(source)], capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  (wheel,) = (tmp_path / "dist").glob("engan_tf-*.whl")
  with zipfile.ZipFile(wheel) as archive:
    names = set(archive.namelist())
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    console_scripts = archive.read(entry_points).decode()
  configs = sorted(os.listdir(os.path.join(ROOT, "engan_tf", "configs")))
  assert configs and {f"engan_tf/configs/{name}" for name in configs} <= names
  assert {f"engan_tf/tools/{tool}.py" for tool in TOOLS} <= names
  for tool in TOOLS:
    assert f"engan-{tool} = engan_tf.tools.{tool}:run" in console_scripts
