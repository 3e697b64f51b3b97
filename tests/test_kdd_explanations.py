"""bench/kdd_explanations.py: the per-label table and the column-order check, on small
hand-made arrays (no model, no data file)."""

import importlib.util
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                     "kdd_explanations.py")
_spec = importlib.util.spec_from_file_location("kdd_explanations", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

COLUMNS = ["service", "count", "src_bytes"]


def test_table_counts_flagged_rows_their_top_column_and_mean_shares():
  labels = ["normal."] * 4 + ["smurf."] * 5 + ["pod."]
  flagged = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0]
  shares = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [1, 0, 0],
                     [0.0, 0.9, 0.1]] + [[0.0, 0.0, 1.0]] * 5, np.float32)
  top = np.asarray(COLUMNS, dtype=object)[shares.argmax(axis=1)]
  bench.check_order(shares, top, COLUMNS)
  table = bench.explanation_table(labels, flagged, top, shares, COLUMNS)
  assert [r["label"] for r in table] == ["smurf.", "normal.", "pod."]  # most rows first
  normal = table[1]
  assert (normal["rows"], normal["flagged"]) == (4, 3)
  # The unflagged normal row (all "service") does not count.
  assert normal["top_column"] == "service" and normal["top_column_share"] == pytest.approx(2 / 3)
  assert [c for c, _ in normal["mean_shares"]] == ["service", "src_bytes", "count"]
  assert normal["mean_shares"][0][1] == pytest.approx((0.7 + 0.6 + 0.1) / 3)
  assert table[0]["flagged"] == 1 and table[0]["top_column"] == "count"
  assert table[2]["flagged"] == 0 and table[2]["top_column"] is None
  text = bench.markdown(table)
  assert "| `normal.` | 4 | 3 (75.0%) | `service` (66.7%) | `service` 0.47" in text
  assert "| `pod.` | 1 | 0 (0.0%) | - | - |" in text


def test_a_wrong_column_order_is_refused():
  shares = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0, 0, 0]], np.float32)
  top = np.array(["service", "src_bytes", ""], dtype=object)  # "": a row without shares
  bench.check_order(shares, top, COLUMNS)
  with pytest.raises(ValueError, match="disagrees"):
    bench.check_order(shares, top, ["count", "service", "src_bytes"])
  with pytest.raises(ValueError, match="2 columns"):
    bench.check_order(shares[:, :2], top, COLUMNS)


def test_onehot_split_separates_the_records_own_value_from_the_others():
  # Features: a numeric column, then a 3-value categorical column.
  membership = np.array([[1, 0], [0, 1], [0, 1], [0, 1]], np.float32)
  x = np.array([[0.3, 0, 1, 0], [0.9, 1, 0, 0]], np.float32)
  shares = np.array([[0.5, 0.1, 0.3, 0.1], [0.2, 0.0, 0.4, 0.4]], np.float32)
  own, other = bench.onehot_split(shares, x, membership)
  np.testing.assert_allclose(own, [0.3, 0.0])
  np.testing.assert_allclose(other, [0.2, 0.8])
  text = bench.onehot_table(["a.", "b."], [True, False], own, other)
  assert "| `a.` | 1 | 0.300 | 0.200 |" in text and "`b.`" not in text
