"""Scores a CSV of raw records with a trained tabular model, without a model server.

  python score.py --model_dir=runs/mine --input=records.csv --output=scored.csv
  engan-score --export_dir=exported/scorer/3000 --input=records.csv --output=scored.csv

The input needs a header line and every raw column the model was trained on (in any
order; a missing one is an error naming it and the file). Each output row is the input row
unchanged (extra columns pass through) followed by

  energy, score_norm       E(x) and ||grad_x E(x)||^2
  is_anomaly               1 if the decision function's score > the model's threshold, or
                           nonfinite (fails closed)
  nonfinite                1 if a numeric field is empty, nan, inf or not a number, or the
                           energy or score is not finite: scored and flagged, never refused
  unseen_categories        categorical values of the record never seen in training
  out_of_range_columns     numeric columns beyond their training range (widened by the
                           support wall's margin, engan_tf/support.py): drift, and why a
                           record far out scores high
  top_column               the raw column with the largest share of the score ("" when
                           nonfinite); engan_tf/serving.py defines the shares (a
                           categorical column counts the gradient on the record's own
                           value, not on its whole one-hot block)

This is the exported scorer's `score_records` signature (engan_tf/serving.py), loaded with
tf.saved_model.load: --export_dir names a SavedModel (export_dir/scorer/<version>);
--model_dir exports one to a temporary directory first. The input is read incrementally
(the csv module, --batch_size rows at a time), so a file larger than memory scores in
bounded memory; both files go through tf.io.gfile (gs:// works, and .gz input is read
compressed). The output is written to OUTPUT.tmp and renamed when complete. Progress (rows
done) goes to stderr.
"""

import csv
import gzip
import io
import os
import sys
import tempfile
import time

from absl import flags

from engan_tf import cli

FLAGS = flags.FLAGS

OUTPUT_COLUMNS = ("energy", "score_norm", "is_anomaly", "nonfinite", "unseen_categories",
                  "out_of_range_columns", "top_column")
_PROGRESS_EVERY_S = 10.0  # seconds between progress lines when stderr is not a terminal


def define_flags():
  flags.DEFINE_string("model_dir", None, "A tabular model_dir written by train.py.")
  flags.DEFINE_enum("checkpoint", "latest", list(cli.CHECKPOINTS),
                    "With --model_dir: the last checkpoint, or the one --select_metric kept.")
  flags.DEFINE_string("export_dir", None, "An exported scorer SavedModel "
                      "(export_dir/scorer/<version>), instead of --model_dir.")
  flags.DEFINE_string("input", None, "CSV of raw records with a header line (.gz read "
                      "compressed).", required=True)
  flags.DEFINE_string("output", None, "Where the scored CSV goes.", required=True)
  flags.DEFINE_integer("batch_size", 4096, "Records scored per call of the model.",
                       lower_bound=1)


class ScoreError(ValueError):
  """An input the tool cannot score; the message names the file (and line)."""


class _GFileRaw(io.RawIOBase):
  """A tf.io.gfile.GFile as a raw binary stream, so io and gzip can read it in blocks."""

  def __init__(self, path):
    super().__init__()
    self._file = tf_gfile().GFile(path, "rb")

  def readable(self):
    return True

  def readinto(self, buffer):
    data = self._file.read(len(buffer))
    buffer[:len(data)] = data
    return len(data)

  def close(self):
    self._file.close()
    super().close()


def tf_gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def open_csv(path):
  """A text stream of `path` read in blocks (utf-8, a byte-order mark ignored)."""
  if not tf_gfile().exists(path):
    raise ScoreError(f"{path}: no such file")
  stream = io.BufferedReader(_GFileRaw(path), buffer_size=1 << 20)
  if path.endswith(".gz"):
    stream = gzip.GzipFile(fileobj=stream)
  return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def _numbers(values, dtype):
  """A numeric column's fields as a `dtype` array: numpy parses a clean batch at once; a
  batch with a bad field falls back to `_number` per field."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  try:
    return np.asarray(values, np.float64).astype(dtype)
  except ValueError:
    return np.array([_number(v) for v in values], dtype)


def _number(text):
  """A numeric field as float; empty, non-numeric and non-finite text is NaN/inf, which the
  scorer flags as nonfinite (fails closed) rather than refusing the file."""
  try:
    return float(text)
  except ValueError:
    return float("nan")


class _Progress:
  """Rows done on stderr: rewritten in place on a terminal, a line every few seconds else."""

  def __init__(self, stream=sys.stderr):
    self.stream, self.tty = stream, stream.isatty()
    self.start = self.last = time.monotonic()

  def update(self, rows, final=False):
    now = time.monotonic()
    if not (final or self.tty or now - self.last >= _PROGRESS_EVERY_S):
      return
    self.last = now
    rate = rows / max(now - self.start, 1e-9)
    line = f"scored {rows:,} rows ({rate:,.0f} rows/s)"
    self.stream.write(("\r" + line + ("\n" if final else "")) if self.tty else line + "\n")
    self.stream.flush()


def load_scorer(model_dir=None, export_dir=None, checkpoint="latest", workdir=None):
  """The `score_records` signature (a concrete function of raw-column tensors)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if bool(model_dir) == bool(export_dir):
    raise ScoreError("give exactly one of --model_dir and --export_dir")
  if model_dir:
    from engan_tf import serving  # pylint: disable=g-import-not-at-top
    export_dir = serving.export(model_dir, workdir, checkpoint=checkpoint)["scorer"]
  loaded = tf.saved_model.load(export_dir)
  if "score_records" not in loaded.signatures:
    raise ScoreError(f"{model_dir or export_dir} has no score_records signature: only a "
                     "tabular model (--dataset=csv or kddcup99) scores raw CSV records")
  return loaded.signatures["score_records"]


def model_dir_columns(model_dir):
  """The raw columns a tabular model_dir was trained on (from data.json), or None."""
  import json  # pylint: disable=g-import-not-at-top
  from engan_tf import rundir  # pylint: disable=g-import-not-at-top
  path = rundir.RunDir(model_dir).file(rundir.RunDir.DATA_DESCRIPTION)
  if not tf_gfile().exists(path):
    return None
  with tf_gfile().GFile(path) as f:
    spec = json.load(f).get("raw_feature_spec")
  return [column for column, _ in spec] if spec else None


def check_header(input_path, columns):
  """Raises ScoreError naming the file and every training column its header lacks."""
  with open_csv(input_path) as f:
    header = [h.strip() for h in next(csv.reader(f), [])]
  if not any(header):
    raise ScoreError(f"{input_path}: the file is empty (expected a header line)")
  missing = [c for c in columns if c not in header]
  if missing:
    raise ScoreError(f"{input_path}: line 1: missing training column(s) "
                     f"{', '.join(repr(c) for c in missing)}; the model takes "
                     f"{', '.join(columns)}")
  clashes = [c for c in OUTPUT_COLUMNS if c in header]
  if clashes:
    raise ScoreError(f"{input_path}: line 1: column(s) {', '.join(clashes)} would be "
                     "overwritten by the scores: rename them")
  return header


def _format(value):
  if isinstance(value, bytes):
    return value.decode("utf-8", "replace")
  if isinstance(value, bool) or value.dtype.kind == "b":
    return "1" if value else "0"
  if value.dtype.kind == "f":
    return f"{float(value):.7g}"
  return str(value)


def score_csv(scorer, input_path, output_path, batch_size=4096, progress=None):
  """Scores `input_path` into `output_path` (see the module docstring); returns the rows."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  spec = {name: value.dtype for name, value in scorer.structured_input_signature[1].items()}
  gfile = tf_gfile()
  tmp = f"{output_path}.tmp"
  rows = 0
  try:
    with open_csv(input_path) as f, gfile.GFile(tmp, "w") as out:
      reader = csv.reader(f)
      next(reader, None)
      header = check_header(input_path, sorted(spec))
      index = {c: header.index(c) for c in spec}
      writer = csv.writer(out, lineterminator="\n")
      writer.writerow(header + list(OUTPUT_COLUMNS))
      batch = []

      def flush():
        feed = {}
        for column, dtype in spec.items():
          values = [row[index[column]] for row in batch]
          feed[column] = tf.constant(values if dtype == tf.string else
                                     _numbers(values, dtype.as_numpy_dtype))
        result = {k: v.numpy() for k, v in scorer(**feed).items()}
        writer.writerows(row + [_format(result[k][i]) for k in OUTPUT_COLUMNS]
                         for i, row in enumerate(batch))
        batch.clear()

      for row in reader:
        if not row:  # blank line: skipped, as training's reader does
          continue
        if len(row) != len(header):
          raise ScoreError(f"{input_path}: line {reader.line_num}: expected {len(header)} fields, got "
                           f"{len(row)}")
        batch.append(row)
        if len(batch) >= batch_size:
          rows += len(batch)
          flush()
          if progress:
            progress.update(rows)
      if batch:
        rows += len(batch)
        flush()
    gfile.rename(tmp, output_path, overwrite=True)
  finally:
    if gfile.exists(tmp):
      gfile.remove(tmp)
  if progress:
    progress.update(rows, final=True)
  return rows


def main(argv):
  cli.start(argv)
  try:
    # A file without the model's columns fails at once, before the model loads.
    columns = model_dir_columns(FLAGS.model_dir) if FLAGS.model_dir else None
    if columns:
      check_header(FLAGS.input, columns)
    with tempfile.TemporaryDirectory() as workdir:
      scorer = load_scorer(FLAGS.model_dir, FLAGS.export_dir, FLAGS.checkpoint,
                           os.path.join(workdir, "export"))
      rows = score_csv(scorer, FLAGS.input, FLAGS.output, FLAGS.batch_size, _Progress())
  except (ValueError, FileNotFoundError, UnicodeDecodeError) as e:
    cli.fail(cli.tool_name(), e)
  print(f"wrote {rows} scored rows to {FLAGS.output}")


# Entry point of `python score.py` and `engan-score`.
run = cli.entry_point(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
