"""Summarises KDD99 runs from their eval.jsonl: the paper's mean over the last 10 evaluations.

  python bench/kdd_summary.py runs/kdd_s0 runs/kdd_s1 ...

Per run and decision function: mean F1 (precision, recall) over the last 10 periodic
evaluations, the minimum F1 after the first third of training (stability), AUROC, and the
share of rows tied at the threshold.
"""

import json
import sys

import numpy as np


def summarise(model_dir):
  rows = [json.loads(l) for l in open(f"{model_dir}/eval.jsonl")]
  rows = [r for r in rows if not r["final"]] or rows
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
  return out


if __name__ == "__main__":
  for path in sys.argv[1:]:
    print(json.dumps(summarise(path)))
