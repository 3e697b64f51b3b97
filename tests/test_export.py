"""The exported SavedModels, loaded the way TF Serving loads them.

Each SavedModel is run in a fresh Python process that imports only TensorFlow, through
TF1-style session loading with the tensor names of its SignatureDef (what the model server
does), and through `tf.saved_model.load(...).signatures`; bad inputs are also fed straight to
the C++ session, which (like the model server) does not check them against the signature.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from engan_tf import build
from engan_tf import data as data_lib
from engan_tf import serving as export_lib
from engan_tf import losses
from engan_tf import model as model_lib
from engan_tf import networks
from engan_tf import rundir
from engan_tf import training
from engan_tf.data import tabular

import concurrent_runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP = 7  # the toy checkpoint's generator step: the default version

# Runs in a fresh process and imports nothing but TensorFlow and numpy. Reads a JSON job
# {"calls": [{"path", "signature", "inputs": {name: npz key}}], "bad": [...same...]} and
# writes outputs (session and TF2 loading) to an npz and the bad calls' errors to a JSON.
_TF_ONLY_RUNNER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf

    job = json.load(open(sys.argv[1]))
    arrays = np.load(sys.argv[2], allow_pickle=False)
    outputs, errors = {}, [None] * len(job["bad"])  # errors in the order of job["bad"]

    def session_run(sess, signature, inputs, checked=True):
      feeds = {signature.inputs[k].name: arrays[v] for k, v in inputs.items()}
      fetches = {k: t.name for k, t in signature.outputs.items()}
      if checked:
        return sess.run(fetches, feeds)
      # Straight to the C++ session, as the model server feeds: no Python shape checks.
      graph = sess.graph
      names = sorted(fetches)
      values = sess._call_tf_sessionrun(
          None, {graph.get_tensor_by_name(k)._as_tf_output(): v for k, v in feeds.items()},
          [graph.get_tensor_by_name(fetches[k])._as_tf_output() for k in names], [], None)
      return dict(zip(names, values))

    for path in sorted({c["path"] for c in job["calls"] + job["bad"]}):
      with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta_graph = tf.compat.v1.saved_model.load(sess, ["serve"], path)
        for i, call in enumerate(job["calls"]):
          if call["path"] == path:
            signature = meta_graph.signature_def[call["signature"]]
            for key, value in session_run(sess, signature, call["inputs"]).items():
              outputs[f"session/{i}/{key}"] = value
        for i, call in enumerate(job["bad"]):
          if call["path"] == path:
            signature = meta_graph.signature_def[call["signature"]]
            try:
              session_run(sess, signature, call["inputs"], checked=False)
            except tf.errors.OpError as e:
              errors[i] = e.message
      loaded = tf.saved_model.load(path)
      for i, call in enumerate(job["calls"]):
        if call["path"] == path:
          fn = loaded.signatures[call["signature"]]
          result = fn(**{k: tf.constant(arrays[v]) for k, v in call["inputs"].items()})
          for key, value in result.items():
            outputs[f"tf2/{i}/{key}"] = value.numpy()
    # String outputs (top_column) as fixed-width bytes: npz object arrays need pickle.
    np.savez(sys.argv[3], **{k: v.astype(bytes) if v.dtype == object else v
                             for k, v in outputs.items()})
    modules = sorted(m.split(".")[0] for m in sys.modules)
    json.dump({"errors": errors, "engan_tf": "engan_tf" in modules,
               "tfp": "tensorflow_probability" in modules}, open(sys.argv[4], "w"))
""")


def _quiet_env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)


def run_tf_only(tmp_path, calls, bad=(), arrays=None):
  """Runs signature calls in a fresh TensorFlow-only process -> (outputs, report)."""
  tmp_path.mkdir(parents=True, exist_ok=True)
  files = {name: str(tmp_path / name) for name in
           ("runner.py", "job.json", "arrays.npz", "out.npz", "report.json")}
  with open(files["runner.py"], "w") as f:
    f.write(_TF_ONLY_RUNNER)
  with open(files["job.json"], "w") as f:
    json.dump({"calls": list(calls), "bad": list(bad)}, f)
  np.savez(files["arrays.npz"], **arrays)
  # cwd outside the repository: the runner cannot import engan_tf by accident.
  proc = subprocess.run([sys.executable, files["runner.py"], files["job.json"],
                         files["arrays.npz"], files["out.npz"], files["report.json"]],
                        cwd=str(tmp_path), capture_output=True, text=True,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(files["report.json"]) as f:
    report = json.load(f)
  assert not report["engan_tf"] and not report["tfp"], "the serving process imported more than TF"
  return dict(np.load(files["out.npz"])), report


def _tree_digest(path):
  digest = hashlib.sha256()
  for root, _, names in sorted(os.walk(path)):
    for name in sorted(names):
      full = os.path.join(root, name)
      digest.update(full.encode())
      with open(full, "rb") as f:
        digest.update(f.read())
  return digest.hexdigest()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
  """A toy model_dir (networks built, checkpoint saved at step 7), exported by the CLI."""
  root = tmp_path_factory.mktemp("toy")
  config = training.TrainConfig(dataset="25gaussians", model_dir=str(root / "run"), dim=16,
                                jit_compile=False, sample_step_size=2e-5, verbose=0)
  source = data_lib.load_dataset(config.dataset)
  config = build.resolve(config, source)
  model = build.build_model(config, source)
  model.g_optimizer.iterations.assign(STEP)
  os.makedirs(config.model_dir)
  rundir.RunDir(config.model_dir).write_config(config)
  tf.train.CheckpointManager(tf.train.Checkpoint(**build.training_checkpoint(model)),
                             os.path.join(config.model_dir, "checkpoints"),
                             max_to_keep=1).save(checkpoint_number=STEP)
  digest = _tree_digest(config.model_dir)
  export_dir = str(root / "exported")
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "export.py"),
                         f"--model_dir={config.model_dir}", f"--export_dir={export_dir}"],
                        capture_output=True, text=True, env=_quiet_env(), timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return dict(model=model, source=source, model_dir=config.model_dir, digest=digest,
              export_dir=export_dir, stdout=proc.stdout, root=root,
              sampler=os.path.join(export_dir, "sampler", str(STEP)),
              scorer=os.path.join(export_dir, "scorer", str(STEP)))


def test_cli_writes_serving_layout_at_the_training_step(toy):
  for name in ("sampler", "scorer"):
    assert f"{name}: {toy[name]}" in toy["stdout"]
    assert os.listdir(os.path.dirname(toy[name])) == [str(STEP)]  # no temporary left
    for part in ("saved_model.pb", "variables/variables.index", export_lib.WARMUP_FILE):
      assert os.path.isfile(os.path.join(toy[name], part)), part
  assert _tree_digest(toy["model_dir"]) == toy["digest"], "export changed the model_dir"


_Z = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
_X = np.random.default_rng(1).normal(scale=2.0, size=(5, 2)).astype(np.float32)
_TOY_ARRAYS = dict(
    z=_Z, x=_X, zero_steps=np.int32(0), five=np.int32(5), alpha=np.float32(0.01),
    z_wide=np.zeros((3, 3), np.float32), z_rank3=np.zeros((3, 1, 2), np.float32),
    z_int=np.zeros((3, 2), np.int32), z_vector=np.zeros((3,), np.float32),
    x_double=np.zeros((3, 2), np.float64), x_wide=np.zeros((4, 5), np.float32),
    minus=np.int32(-1), steps_vector=np.array([5], np.int32), zero=np.float32(0.0))
# (model, signature, inputs, what the error must say), fed straight to the C++ session.
_TOY_BAD = [
    ("sampler", "serving_default", {"z": "z_wide"},
     "input z must have shape [batch, 2], got shape] [3 3]"),
    ("sampler", "serving_default", {"z": "z_rank3"},
     "input z must have shape [batch, 2], got shape] [3 1 2]"),
    ("sampler", "serving_default", {"z": "z_vector"}, "input z must have shape [batch, 2]"),
    ("sampler", "serving_default", {"z": "z_int"}, "to be float but int32 is provided"),
    ("sampler", "sample", {"z": "z", "mcmc_steps": "minus", "step_size": "alpha"},
     "input mcmc_steps must be >= 0"),
    ("sampler", "sample", {"z": "z", "mcmc_steps": "steps_vector", "step_size": "alpha"},
     "input mcmc_steps must be a scalar"),
    ("sampler", "sample", {"z": "z", "mcmc_steps": "five", "step_size": "zero"},
     "input step_size must be finite and > 0"),
    ("scorer", "serving_default", {"x": "x_wide"},
     "input x must have shape [batch, 2], got shape] [4 5]"),
    ("scorer", "serving_default", {"x": "x_double"}, "to be float but double is provided"),
]


def _toy_job(toy):
  """(calls, bad calls, arrays) of the toy SavedModels."""
  calls = [
      dict(path=toy["sampler"], signature="serving_default", inputs={"z": "z"}),
      dict(path=toy["sampler"], signature="generate", inputs={"z": "z"}),
      dict(path=toy["sampler"], signature="sample",
           inputs={"z": "z", "mcmc_steps": "zero_steps", "step_size": "alpha"}),
      dict(path=toy["sampler"], signature="sample",
           inputs={"z": "z", "mcmc_steps": "five", "step_size": "alpha"}),
      dict(path=toy["scorer"], signature="serving_default", inputs={"x": "x"}),
      dict(path=toy["sampler"], signature="sample_paper",
           inputs={"z": "z", "mcmc_steps": "five", "step_size": "alpha"}),
  ]
  bad = [dict(path=toy[name], signature=signature, inputs=inputs)
         for name, signature, inputs, _ in _TOY_BAD]
  return calls, bad, _TOY_ARRAYS


@pytest.fixture(scope="module")
def served(toy, tabular_export, tmp_path_factory):
  """{"toy": (outputs, report), "tabular": (outputs, report)}: both models' signature calls
  in one TensorFlow-only process (one start-up), each job's calls and bad calls numbered
  from 0 as it lists them."""
  jobs = {"toy": _toy_job(toy), "tabular": tabular_export["job"]}
  calls, bad, arrays, offsets = [], [], {}, {}
  for name, (job_calls, job_bad, job_arrays) in jobs.items():
    offsets[name] = (len(calls), len(job_calls), len(bad), len(job_bad))
    key = lambda k, name=name: f"{name}.{k}"  # each job's arrays under its own names
    calls += [dict(c, inputs={i: key(k) for i, k in c["inputs"].items()}) for c in job_calls]
    bad += [dict(c, inputs={i: key(k) for i, k in c["inputs"].items()}) for c in job_bad]
    arrays.update({key(k): v for k, v in job_arrays.items()})
  out, report = run_tf_only(tmp_path_factory.mktemp("served"), calls, bad, arrays=arrays)
  results = {}
  for name, (first, n_calls, first_bad, n_bad) in offsets.items():
    job_out = {}
    for mode in ("session", "tf2"):
      for i in range(n_calls):
        prefix = f"{mode}/{first + i}/"
        job_out.update({f"{mode}/{i}/{k[len(prefix):]}": v for k, v in out.items()
                        if k.startswith(prefix)})
    results[name] = (job_out, dict(report, errors=report["errors"][first_bad:first_bad + n_bad]))
  return results


@pytest.fixture(scope="module")
def toy_served(served):
  return served["toy"]


def test_toy_signatures_in_a_tensorflow_only_process(toy, toy_served):
  model, (out, _) = toy["model"], toy_served
  x_generated = model.generator(_Z, training=False).numpy()
  energy, score_norm = (t.numpy() for t in losses.energy_and_score_norm(model.energy, _X))
  for mode in ("session", "tf2"):
    np.testing.assert_array_equal(out[f"{mode}/0/x"], x_generated)
    np.testing.assert_array_equal(out[f"{mode}/1/x"], x_generated)
    # Zero MCMC steps: the latents come back unchanged and x is exactly generate's.
    np.testing.assert_array_equal(out[f"{mode}/2/x"], out[f"{mode}/0/x"])
    np.testing.assert_array_equal(out[f"{mode}/2/z"], _Z)
    np.testing.assert_array_equal(out[f"{mode}/2/acceptance_rate"], np.zeros(6))
    # Five steps: x is G of the final latents, which moved; rates are fractions of 5.
    z_final = out[f"{mode}/3/z"]
    assert z_final.shape == _Z.shape and not np.array_equal(z_final, _Z)
    np.testing.assert_allclose(out[f"{mode}/3/x"], model.generator(z_final).numpy(), atol=1e-5)
    rate = out[f"{mode}/3/acceptance_rate"]
    assert rate.shape == (6,) and np.all((rate >= 0) & (rate <= 1))
    np.testing.assert_allclose(rate * 5, np.round(rate * 5), atol=1e-5)
    np.testing.assert_allclose(out[f"{mode}/4/energy"], energy, atol=1e-5)
    np.testing.assert_allclose(out[f"{mode}/4/score_norm"], score_norm, rtol=1e-4, atol=1e-6)
    z_paper = out[f"{mode}/5/z"]
    assert not np.array_equal(z_paper, _Z)
    np.testing.assert_allclose(out[f"{mode}/5/x"], model.generator(z_paper).numpy(), atol=1e-5)


def test_bad_inputs_fail_with_a_clear_message(toy, toy_served):
  _, report = toy_served
  for (_, signature, inputs, expected), error in zip(_TOY_BAD, report["errors"]):
    assert error is not None, f"{signature}{inputs} was accepted"
    assert expected in error, error
  # The Python APIs check the declared dtype before running anything.
  loaded = tf.saved_model.load(toy["scorer"])
  with pytest.raises(Exception, match="expected to be a float"):
    loaded.signatures["serving_default"](x=tf.zeros([3, 2], tf.int32))


def test_saved_model_cli_show_and_run(toy, tmp_path):
  cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
  x = np.array([[0.5, -1.0], [2.0, 2.0]], np.float32)
  np.save(tmp_path / "x.npy", x)
  show, run = concurrent_runs.run_all(
      [cli + ["show", "--all", "--dir", toy["sampler"]],
       cli + ["run", "--dir", toy["scorer"], "--tag_set", "serve", "--signature_def",
              "serving_default", "--inputs", f"x={tmp_path / 'x.npy'}", "--outdir",
              str(tmp_path)]], timeout=120, env=_quiet_env())
  assert show.returncode == 0, show.stderr[-2000:]
  for needle in ("signature_def['serving_default']", "signature_def['sample']",
                 "inputs['mcmc_steps'] tensor_info:", "dtype: DT_INT32",
                 "outputs['acceptance_rate'] tensor_info:", "shape: (-1, 2)"):
    assert needle in show.stdout, needle
  assert run.returncode == 0, run.stderr[-2000:]
  energy = np.load(tmp_path / "energy.npy")
  np.testing.assert_allclose(energy, toy["model"].energy(x).numpy(), atol=1e-5)


def _signature_defs(path):
  from tensorflow.python.tools import saved_model_utils  # pylint: disable=g-import-not-at-top
  return saved_model_utils.get_meta_graph_def(path, "serve").signature_def


def _check_warmup(path):
  """Every warm-up record is a PredictRequest that its SignatureDef accepts and that runs."""
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  signature_defs = _signature_defs(path)
  loaded = tf.saved_model.load(path)
  called = set()
  for record in tf.data.TFRecordDataset(os.path.join(path, export_lib.WARMUP_FILE)):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    request = log.predict_log.request
    signature = signature_defs[request.model_spec.signature_name]
    assert set(request.inputs) == set(signature.inputs)
    for key, tensor in request.inputs.items():
      spec = signature.inputs[key]
      assert tensor.dtype == spec.dtype, key
      shape = [d.size for d in tensor.tensor_shape.dim]
      want = [d.size for d in spec.tensor_shape.dim]
      assert len(shape) == len(want) and all(w in (-1, s) for s, w in zip(shape, want)), key
    loaded.signatures[request.model_spec.signature_name](
        **{k: tf.make_ndarray(v) for k, v in request.inputs.items()})
    called.add(request.model_spec.signature_name)
  assert called == set(signature_defs) - {"__saved_model_init_op"}


def test_the_sampler_records_the_models_sample_step_size(toy):
  """sample_defaults.json says what to send to `sample`; the warm-up sends the same alpha."""
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  with open(os.path.join(toy["sampler"], export_lib.SAMPLE_DEFAULTS_FILE)) as f:
    assert json.load(f) == {"signature": "sample", "mcmc_steps": 100, "step_size": 2e-5}
  alphas = set()
  for record in tf.data.TFRecordDataset(os.path.join(toy["sampler"], export_lib.WARMUP_FILE)):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    inputs = log.predict_log.request.inputs
    if "step_size" in inputs:
      alphas.add(float(tf.make_ndarray(inputs["step_size"])))
  assert alphas and all(alpha == pytest.approx(2e-5) for alpha in alphas)


def test_warmup_requests_match_the_signatures(toy):
  _check_warmup(toy["sampler"])
  _check_warmup(toy["scorer"])


def test_refuses_to_overwrite_a_version(toy):
  before = _tree_digest(toy["export_dir"])
  with pytest.raises(FileExistsError, match="never overwritten"):
    export_lib.export_model(toy["model"], toy["source"], toy["export_dir"], STEP)
  assert _tree_digest(toy["export_dir"]) == before


def test_a_failed_export_leaves_no_version_directory(toy, tmp_path, monkeypatch):

  def fail(*unused):
    raise OSError("disk full")

  monkeypatch.setattr(export_lib, "_write_warmup", fail)
  with pytest.raises(OSError, match="disk full"):
    export_lib.export_model(toy["model"], toy["source"], str(tmp_path), 3)
  for name in ("sampler", "scorer"):
    assert not os.path.exists(tmp_path / name) or os.listdir(tmp_path / name) == []


# A hand-made tabular data set: one categorical and two numeric raw columns.
_RAW_SPEC = {"protocol": tf.string, "duration": "float32", "src_bytes": "float32"}


def _tabular_source_and_model():
  rng = np.random.default_rng(0)
  n = 300
  raw = {"protocol": np.array(rng.choice(["tcp", "udp", "icmp"], n), dtype=object),
         "duration": rng.exponential(2.0, n).astype(np.float32),
         "src_bytes": rng.normal(100.0, 10.0, n).astype(np.float32)}
  inputs = {"protocol": keras.Input((), dtype="string", name="protocol"),
            "duration": keras.Input((), dtype="float32", name="duration"),
            "src_bytes": keras.Input((), dtype="float32", name="src_bytes")}
  normalization = keras.layers.Normalization(axis=-1)
  normalization.adapt(np.stack([raw["duration"], raw["src_bytes"]], axis=1))
  numeric = keras.layers.Lambda(lambda t: tf.stack(t, axis=1))(
      [inputs["duration"], inputs["src_bytes"]])
  # Named as engan_tf.data.tabular names its blocks: "<column>_onehot" (unseen values count).
  one_hot = tabular.OneHot(["icmp", "tcp", "udp"], name="protocol_onehot")(inputs["protocol"])
  preprocessing = keras.Model(inputs, keras.layers.Concatenate()([one_hot, normalization(numeric)]))
  features = preprocessing(raw).numpy()  # [n, 3 + 2]: 3 protocols, 2 scaled numbers
  model = model_lib.EnGAN(*networks.build_networks("kdd", features.shape[1:], 4, dim=8),
                          latent_dim=4)
  source = data_lib.DataSource(
      "tiny_tabular", "tabular", features.shape[1:], train_dataset=None,
      tabular=data_lib.TabularPreprocessing(preprocessing, _RAW_SPEC))
  return model, source, features


@pytest.fixture(scope="module")
def tabular_export(tmp_path_factory):
  """The hand-made tabular model exported with a threshold, and the calls its test makes."""
  model, source, fit_features = _tabular_source_and_model()
  _, fit_score_norm = losses.energy_and_score_norm(model.energy, fit_features)
  threshold = float(np.quantile(fit_score_norm.numpy(), 0.8))
  thresholds = rundir.AnomalyThresholds(step=2, thresholds={"score_norm": threshold,
                                                            "energy": 0.0})
  paths = export_lib.export_model(model, source, str(tmp_path_factory.mktemp("tabular")
                                                     / "exported"), 2, thresholds)
  scorer = paths["scorer"]

  # Spaces around a category (stripped, as training does), a NaN feature (fails closed) and
  # a category never seen in training (counted).
  records = {"protocol": np.array([b"tcp", b" udp ", b"icmp", b"unknown"]),
             "duration": np.array([0.1, 3.0, np.nan, 0.0], np.float32),
             "src_bytes": np.array([100.0, 80.0, 150.0, 120.0], np.float32)}
  stripped = dict(records, protocol=np.array([b"tcp", b"udp", b"icmp", b"unknown"]))
  features = source.tabular.model(
      {k: tf.constant(v) for k, v in stripped.items()}).numpy()
  nonfinite = np.array([False, False, True, False])
  arrays = dict(records, features=features, features_wide=np.zeros((4, 9), np.float32),
                short=np.zeros((3,), np.float32), bytes_as_float=np.zeros((4,), np.float32),
                column_2d=np.zeros((4, 1), np.float32))
  record_inputs = {k: k for k in records}
  calls = [dict(path=scorer, signature="score_records", inputs=record_inputs),
           dict(path=scorer, signature="anomaly", inputs={"x": "features"}),
           dict(path=scorer, signature="serving_default", inputs={"x": "features"}),
           dict(path=scorer, signature="explain", inputs={"x": "features"})]
  bad = [dict(path=scorer, signature="anomaly", inputs={"x": "features_wide"}),
         dict(path=scorer, signature="score_records", inputs=dict(record_inputs, src_bytes="short")),
         dict(path=scorer, signature="score_records",
              inputs=dict(record_inputs, protocol="bytes_as_float")),
         dict(path=scorer, signature="score_records", inputs=dict(record_inputs, duration="column_2d"))]
  return dict(model=model, source=source, threshold=threshold, scorer=scorer,
              features=features, nonfinite=nonfinite, job=(calls, bad, arrays))


def test_tabular_anomaly_signatures_in_a_tensorflow_only_process(tabular_export, served):
  model, threshold, scorer, features, nonfinite = (
      tabular_export[k] for k in ("model", "threshold", "scorer", "features", "nonfinite"))
  out, report = served["tabular"]

  energy, score_norm = (t.numpy() for t in losses.energy_and_score_norm(model.energy, features))
  with tf.GradientTape() as tape:
    x = tf.constant(features)
    tape.watch(x)
    total = tf.reduce_sum(model.energy(x, training=False))
  squares = tape.gradient(total, x).numpy().astype(np.float64) ** 2
  # The protocol block (features 0-2: icmp, tcp, udp) counts the record's own value's squared
  # gradient only (tcp, udp, icmp); the unseen "unknown" keeps the whole block's.
  own = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 1, 1]], np.float64)
  squares[:, :3] *= own
  feature_shares = squares / squares.sum(axis=1, keepdims=True)
  column_shares = np.stack([feature_shares[:, :3].sum(axis=1), feature_shares[:, 3],
                            feature_shares[:, 4]], axis=1)
  column_shares[nonfinite] = 0.0
  names = np.array([b"protocol", b"duration", b"src_bytes"])
  top_column = [b"" if bad else names[i]
                for i, bad in zip(column_shares.argmax(axis=1), nonfinite)]
  feature_names = np.array([b"protocol=icmp", b"protocol=tcp", b"protocol=udp", b"duration",
                            b"src_bytes"])  # the one-hot names, as column_map probes them
  top_feature = [b"" if bad else feature_names[i]
                 for i, bad in zip(np.nan_to_num(feature_shares).argmax(axis=1), nonfinite)]
  for mode in ("session", "tf2"):
    np.testing.assert_allclose(out[f"{mode}/0/energy"], energy, atol=1e-5)
    np.testing.assert_allclose(out[f"{mode}/0/score_norm"], score_norm, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(out[f"{mode}/0/is_anomaly"],
                                  (score_norm > threshold) | nonfinite)
    np.testing.assert_array_equal(out[f"{mode}/0/nonfinite"], nonfinite)
    np.testing.assert_array_equal(out[f"{mode}/0/unseen_categories"], [0, 0, 0, 1])
    np.testing.assert_allclose(out[f"{mode}/1/score"], score_norm, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(out[f"{mode}/1/is_anomaly"],
                                  (score_norm > threshold) | nonfinite)
    np.testing.assert_array_equal(out[f"{mode}/1/nonfinite"], nonfinite)
    np.testing.assert_allclose(out[f"{mode}/2/energy"], energy, atol=1e-5)
    # Explanations: each raw column's share of the score norm's pieces, in raw column order;
    # the one-hot block of "protocol" (features 0-2) sums back to it. The NaN record: 0, "".
    np.testing.assert_allclose(out[f"{mode}/0/column_shares"], column_shares, rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(out[f"{mode}/0/column_shares"][~nonfinite].sum(axis=1), 1.0,
                               rtol=1e-5)
    assert out[f"{mode}/0/top_column"].tolist() == top_column
    np.testing.assert_allclose(out[f"{mode}/3/column_shares"][~nonfinite],
                               feature_shares[~nonfinite], rtol=1e-4, atol=1e-6)
    assert out[f"{mode}/3/top_column"].tolist() == top_feature
  # The threshold lives in the SavedModel, not in Python.
  assert tf.saved_model.load(scorer).anomaly_threshold.numpy() == pytest.approx(threshold,
                                                                                 rel=1e-5)
  expected = ["input x must have shape [batch, 5], got shape] [4 9]",
              "every raw column must hold the same number of records",
              "to be string but float is provided",
              "input duration must have shape [batch], got shape] [4 1]"]
  for want, error in zip(expected, report["errors"]):
    assert error is not None and want in error, (want, error)
  _check_warmup(scorer)


def test_a_model_without_anomaly_data_has_only_the_score_signatures(toy):
  assert set(_signature_defs(toy["scorer"])) == {"serving_default", "score",
                                                 "__saved_model_init_op"}
  assert set(_signature_defs(toy["sampler"])) == {"serving_default", "generate", "sample",
                                                  "sample_paper", "__saved_model_init_op"}


def test_data_scale_hooks_apply_to_inputs_and_outputs(tmp_path):
  model = model_lib.EnGAN(*networks.build_networks("kdd", (3,), 2, dim=8), latent_dim=2)
  # A data set stored in [0, 1] and modelled in [-1, 1].
  source = data_lib.DataSource("scaled", "toy", (3,), train_dataset=None,
                               to_data_scale=lambda x: (x + 1.0) / 2.0,
                               from_data_scale=lambda x: 2.0 * x - 1.0)
  paths = export_lib.export_model(model, source, str(tmp_path), 1)
  z = tf.random.stateless_normal([4, 2], [0, 1])
  x_data = tf.random.stateless_uniform([4, 3], [0, 2])
  sampler, scorer = (tf.saved_model.load(paths[k]).signatures["serving_default"]
                     for k in ("sampler", "scorer"))
  np.testing.assert_allclose(sampler(z=z)["x"], (model.generator(z).numpy() + 1) / 2,
                             atol=1e-6)
  np.testing.assert_allclose(scorer(x=x_data)["energy"], model.energy(2 * x_data - 1),
                             atol=1e-5)


def test_committed_serving_config_names_both_models():
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.config import model_server_config_pb2  # pylint: disable=g-import-not-at-top
  with open(os.path.join(ROOT, "serving", "models.config")) as f:
    config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
  models = {c.name: c.base_path for c in config.model_config_list.config}
  assert models == {"sampler": "/models/engan/sampler", "scorer": "/models/engan/scorer"}


def test_sample_targets_the_latent_prior_and_sample_paper_the_paper(tmp_path):
  # With E constant, U = E(G(z)) is flat: the paper's chains random-walk around their start,
  # while the prior's U = const + |z|^2 / 2 pulls them to N(0, I) (alpha 0.1, 100 steps:
  # the start's mean is damped by 0.9^100).
  model = model_lib.EnGAN(*networks.build_networks("kdd", (3,), 2, dim=8), latent_dim=2)
  for weight in model.energy.weights:
    weight.assign(tf.zeros_like(weight))
  source = data_lib.DataSource("flat", "toy", (3,), train_dataset=None)
  sampler = tf.saved_model.load(export_lib.export_model(model, source, str(tmp_path), 1)["sampler"])
  z = tf.fill([512, 2], 8.0)
  args = dict(z=z, mcmc_steps=tf.constant(100), step_size=tf.constant(0.1))
  with_prior = sampler.signatures["sample"](**args)["z"].numpy()
  paper = sampler.signatures["sample_paper"](**args)["z"].numpy()
  assert np.all(np.abs(with_prior.mean(axis=0)) < 0.3), with_prior.mean(axis=0)
  np.testing.assert_allclose(with_prior.std(axis=0), 1.0, atol=0.15)
  np.testing.assert_allclose(paper.mean(axis=0), 8.0, atol=0.6)
  np.testing.assert_allclose(paper.std(axis=0), np.sqrt(2 * 0.1 * 100), rtol=0.15)


def test_a_bfloat16_sampler_keeps_the_weights_and_the_scorer_stays_float32(toy, tmp_path):
  """export(sampler_mixed_precision=True): the sampler's networks compute in bfloat16 around
  the same weights (its samples match the float32 sampler's within bfloat16 rounding); the
  scorer, whose thresholds belong to the float32 energy, is unchanged."""
  paths = export_lib.export(toy["model_dir"], str(tmp_path / "bf16"),
                            sampler_mixed_precision=True)

  def bfloat16_ops(signature):
    graph = signature.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    return sum(1 for n in nodes if any(a.type == tf.bfloat16.as_datatype_enum
                                       for a in n.attr.values()))

  z = tf.random.stateless_normal([256, 2], [1, 1])
  fp32_sampler = tf.saved_model.load(toy["sampler"]).signatures["generate"]
  bf16_sampler = tf.saved_model.load(paths["sampler"]).signatures["generate"]
  assert bfloat16_ops(bf16_sampler) > 0 and bfloat16_ops(fp32_sampler) == 0
  x32, x16 = fp32_sampler(z=z)["x"].numpy(), bf16_sampler(z=z)["x"].numpy()
  assert x16.dtype == np.float32
  np.testing.assert_allclose(x16, x32, rtol=0.05, atol=0.05 * np.abs(x32).max())
  sampled = tf.saved_model.load(paths["sampler"]).signatures["sample"](
      z=z, mcmc_steps=tf.constant(3), step_size=tf.constant(0.01))
  assert np.all(np.isfinite(sampled["x"].numpy()))
  scorer = tf.saved_model.load(paths["scorer"]).signatures["serving_default"]
  assert bfloat16_ops(scorer) == 0
  # As TF Serving loads it: a TensorFlow-only process, TF1 session on the SignatureDefs.
  out, _ = run_tf_only(tmp_path / "served", [
      dict(path=paths["sampler"], signature="generate", inputs={"z": "z"}),
      dict(path=paths["sampler"], signature="sample",
           inputs={"z": "z", "mcmc_steps": "five", "step_size": "alpha"})], [],
      arrays=_TOY_ARRAYS)
  for mode in ("session", "tf2"):
    np.testing.assert_array_equal(out[f"{mode}/0/x"], bf16_sampler(z=_Z)["x"].numpy())
    assert np.all(np.isfinite(out[f"{mode}/1/x"])) and out[f"{mode}/1/z"].shape == _Z.shape
