"""Two real workers (processes on 127.0.0.1) under MultiWorkerMirroredStrategy."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import test_training

HERE = os.path.dirname(os.path.abspath(__file__))


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
  """Both workers' weights after the SGD step and after training (multiworker_main.py):
  {"sgd": [worker 0's, worker 1's], "train": [...], "model_dir": ...}."""
  root = tmp_path_factory.mktemp("multiworker")
  np.savez(root / "batch.npz", **test_training._noise_as_data(batch=8))
  model_dir = str(root / "run")
  ports = _free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  procs, outs = [], []
  for index in range(2):
    out = {name: str(root / f"{name}{index}.npz") for name in ("sgd", "train")}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
    procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "multiworker_main.py"),
                                   str(root / "batch.npz"), out["sgd"], model_dir, out["train"]],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
    outs.append(out)
  for proc in procs:
    try:
      _, err = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
      for p in procs:
        p.kill()
      raise
    assert proc.returncode == 0, err[-3000:]
  return {name: [list(np.load(out[name]).values()) for out in outs] for name in ("sgd", "train")
          } | {"model_dir": model_dir}


def test_two_workers_train_in_lockstep_and_only_the_chief_keeps_files(two_workers):
  model_dir = two_workers["model_dir"]
  w0, w1 = two_workers["train"]
  for a, b in zip(w0, w1):
    np.testing.assert_array_equal(a, b)  # synchronous training: identical replicas
  latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
  assert latest.endswith("-6")
  assert not os.path.exists(os.path.join(model_dir, "workertemp", "worker_1"))
  assert os.path.exists(os.path.join(model_dir, "final_eval.json"))


def test_two_worker_sgd_step_equals_one_step_on_the_concatenated_batch(two_workers):
  batch = test_training._noise_as_data(batch=8)
  w0, _ = two_workers["sgd"]

  single = test_training._sgd_model()
  initial = test_training._weights(single)
  single.fit(tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=1, epochs=1,
             verbose=0)
  moved = 0
  for before, a, b in zip(initial, test_training._weights(single), w0):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    moved += not np.allclose(before, a)
  assert moved == len(initial) - 1  # all but E's output bias (see test_training)
