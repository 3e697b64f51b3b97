"""setup.py ships every module of engan_tf (a wheel, not only an editable install)."""

import os

from setuptools import find_packages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_module_directory_is_a_package_setup_py_finds():
  found = set(find_packages(where=ROOT, include=["engan_tf", "engan_tf.*"]))
  with open(os.path.join(ROOT, "setup.py")) as f:
    assert 'find_packages(include=["engan_tf", "engan_tf.*"])' in f.read()
  module_dirs = set()
  for directory, _, files in os.walk(os.path.join(ROOT, "engan_tf")):
    if "__pycache__" not in directory and any(name.endswith(".py") for name in files):
      module_dirs.add(os.path.relpath(directory, ROOT).replace(os.sep, "."))
  assert module_dirs == found
