"""Summarises KDD99 runs from their eval.jsonl: the paper's mean over the last 10 evaluations.

  python bench/kdd_summary.py runs/kdd_s0 runs/kdd_s1 ...

Per run and decision function: mean F1 (precision, recall) over the last 10 evaluations
(the final one included), the minimum F1 after the first third of training (stability),
AUROC, and the share of rows tied at the threshold. Runs trained with --validation_share also get the
label-free criterion's trace and its rank correlation with the test F1 and AUROC; with
--select_metric, the same F1 statistics for the selected model ("selected": what a user who
deploys model_dir/selected/ at each evaluation gets).
"""

import json
import sys

import numpy as np


def summarise(model_dir):
  rows = [json.loads(l) for l in open(f"{model_dir}/eval.jsonl")]
  # One evaluation per step, the final one included: it is the last epoch's evaluation (a
  # run evaluates every --eval_every epochs before its last step, and at its last step).
  rows = sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])
  last_step = rows[-1]["step"]
  out = {"model_dir": model_dir, "evaluations": len(rows), "last_step": last_step}
  for fn in ("score_norm", "energy"):
    f1 = np.array([r[f"{fn}/f1"] for r in rows])
    late = [r[f"{fn}/f1"] for r in rows if r["step"] > last_step / 3]
    out[fn] = {
        "f1_last10": round(float(f1[-10:].mean()), 4),
        "precision_last10": round(float(np.mean([r[f"{fn}/precision"] for r in rows[-10:]])), 4),
        "recall_last10": round(float(np.mean([r[f"{fn}/recall"] for r in rows[-10:]])), 4),
        "f1_min_after_first_third": round(float(min(late)), 4),
        "auroc_last10": round(float(np.mean([r[f"{fn}/auroc"] for r in rows[-10:]])), 4),
        "max_tied_share": round(float(max(r[f"{fn}/tied_share"] for r in rows)), 5),
        "f1_trace": [round(float(v), 3) for v in f1],
    }
    criterion = f"{fn}/val_auroc_shuffled"
    if criterion in rows[0]:
      val = [r[criterion] for r in rows]
      out[fn].update(
          val_auroc_shuffled_trace=[round(float(v), 3) for v in val],
          spearman_val_vs_test_f1=round(_spearman(val, f1), 3),
          spearman_val_vs_test_auroc=round(_spearman(val, [r[f"{fn}/auroc"] for r in rows]), 3))
    if f"selected/{fn}/f1" in rows[0]:
      sel = np.array([r[f"selected/{fn}/f1"] for r in rows])
      out[fn]["selected"] = {
          "f1_last10": round(float(sel[-10:].mean()), 4),
          "f1_min_after_first_third": round(float(min(
              r[f"selected/{fn}/f1"] for r in rows if r["step"] > last_step / 3)), 4),
          "f1_trace": [round(float(v), 3) for v in sel],
          "step_trace": [r["selected/step"] for r in rows],
      }
  return out


def _spearman(a, b):
  rank = lambda v: np.argsort(np.argsort(np.asarray(v, np.float64)))
  return float(np.corrcoef(rank(a), rank(b))[0, 1])


if __name__ == "__main__":
  for path in sys.argv[1:]:
    print(json.dumps(summarise(path)))
