"""Every module's docstring examples run and print what they say (the guide: docstrings
state the math and run).

Examples that need a trained model, data files, a download or minutes of training are
marked `# doctest: +SKIP` where they stand; everything else runs here, one test per module
of engan_tf (every module is listed, with or without examples, so a new module's examples
cannot be missed).
"""

import contextlib
import doctest
import importlib
import io
import pkgutil

import pytest

import engan_tf


def _raise(name):
  # walk_packages ignores a subpackage that fails to import unless told otherwise.
  raise ImportError(f"could not import {name} to collect its doctests")


MODULES = ["engan_tf"] + sorted(
    info.name for info in pkgutil.walk_packages(engan_tf.__path__, "engan_tf.", onerror=_raise))


def test_every_module_is_collected():
  assert len(MODULES) == len(set(MODULES))
  for name in ("engan_tf.mcmc", "engan_tf.data.tabular", "engan_tf.metrics.inception",
               "engan_tf.networks.sngan", "engan_tf.tools.train"):
    assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
  module = importlib.import_module(name)
  report = io.StringIO()
  with contextlib.redirect_stdout(report):  # doctest reports failures on stdout
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
  assert result.failed == 0, report.getvalue()
