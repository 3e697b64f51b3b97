r"""How far from the stated rate can `is_anomaly`'s false alarms land by chance? (issue 17)

  PYTHONPATH=. python bench/false_alarm_band.py bench/results/anomaly_suite_X.json ... \
      [--markdown=bench/results/false_alarm_band.md]

Issue 17 asks that the exported decision's false alarms on each suite data set lie within
2 points of the stated rate (5%). The threshold is the split-conformal quantile of n
held-out normal rows (engan_tf/anomaly.py), and the suite measures its false alarms on the
test set's m normal rows. Both are finite samples, so even an exact method misses the band
on small sets. Under exchangeability of held-out and test normal rows (random splits of one
pool: what the suite's protocols are), with k = min(n, ceil(0.95 (n + 1))):

  the threshold's true false-alarm rate  F ~ Beta(n + 1 - k, k)   (mean (n + 1 - k)/(n + 1),
                                                                    the promised rate)
  the flagged test normals              c | F ~ Binomial(m, F), so c ~ BetaBinomial(m, n+1-k, k)

For each engan record with `is_anomaly_false_alarm` this prints n, m, the promised rate, the
observed rate, P(observed within 2 points of 5%) under that law, the same for a threshold
whose true rate is exactly 5% (c ~ Binomial(m, 0.05): the ceiling any threshold has on a test
set of m normals), and the two-sided tail
probability of the observed count: a small one (< 0.01) on a set says the held-out rows
were not like its test rows there (a shift the conformal threshold cannot know), a large one
says the miss is the sample size's. Records without `is_anomaly_held_out_rows` (before the
field existed) take n = round(0.2 n_train_used): the detector holds out 20% of the rows it
is given (engan_tf.data.tabular.CSV_VALIDATION_SHARE).

Example, 6 held-out rows and 60 test normals (wine's scale):
  >>> law = flag_count_law(held_out=6, test_normals=60)
  >>> round(float(law.mean()) / 60, 3)           # the promised rate, 1/7
  0.143
  >>> round(band_probability(law, 60), 2)        # an exact method lands in 3-7% this often
  0.21
  >>> round(band_probability(flag_count_law(233, 324), 324), 2)   # digits' scale
  0.72
  >>> round(band_probability(stats.binom(60, 0.05), 60), 2)    # an exact 5% threshold, m = 60
  0.63

The law assumes continuous scores. Tied scores (KDD99's duplicated records) put an atom at
the threshold, which `score > threshold` does not flag: fewer false alarms than promised,
and a small tail on the low side that is the ties', not a shift.
"""

import json
import sys

import numpy as np
from scipy import stats

from engan_tf import anomaly
from engan_tf.data import tabular

STATED = 0.05  # the stated false-alarm rate (the library's and the suite's default)
BAND = 0.02  # issue 17's band around it


def flag_count_law(held_out, test_normals, stated=STATED):
  """BetaBinomial law of the number of test normals flagged (module docstring)."""
  promised = anomaly.promised_false_alarm_rate(held_out, 1.0 - stated)
  a = round(promised * (held_out + 1))  # n + 1 - k
  return stats.betabinom(test_normals, a, held_out + 1 - a)


def band_probability(law, test_normals, stated=STATED, band=BAND):
  """P(|count / m - stated| <= band) under law."""
  low = int(np.ceil((stated - band) * test_normals - 1e-9))
  high = int(np.floor((stated + band) * test_normals + 1e-9))
  return float(law.cdf(high) - (law.cdf(low - 1) if low > 0 else 0.0))


def two_sided_tail(law, count):
  """min(1, 2 min(P(c <= count), P(c >= count)))."""
  return float(min(1.0, 2 * min(law.cdf(count), law.sf(count - 1))))


def rows_of(paths, stated=STATED, band=BAND):
  out = []
  for path in paths:
    with open(path) as f:
      results = json.load(f)["results"]
    for r in results:
      if r.get("detector") != "engan" or "is_anomaly_false_alarm" not in r:
        continue
      if r.get("group", "main") != "main":
        continue
      n = r.get("is_anomaly_held_out_rows") or int(round(
          tabular.CSV_VALIDATION_SHARE * r["n_train_used"]))
      m = int(round(r["n_test"] * (1.0 - r["test_anomaly_share"])))
      count = int(round(r["is_anomaly_false_alarm"] * m))
      law = flag_count_law(n, m, stated)
      out.append(dict(dataset=r["dataset"], seed=r["seed"], held_out=n, test_normals=m,
                      promised=anomaly.promised_false_alarm_rate(n, 1.0 - stated),
                      observed=r["is_anomaly_false_alarm"],
                      in_band=abs(r["is_anomaly_false_alarm"] - stated) <= band + 1e-12,
                      p_band=band_probability(law, m, stated, band),
                      ceiling=band_probability(stats.binom(m, stated), m, stated, band),
                      tail=two_sided_tail(law, count), source=path))
  return out


def markdown(rows):
  lines = ["| data set | seed | held-out rows n | test normals m | promised | observed | "
           "in band | P(in band) | exact 5%: P(in band) | two-sided tail |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['dataset']} | {r['seed']} | {r['held_out']:,} | {r['test_normals']:,} | "
                 f"{r['promised']:.3f} | {r['observed']:.3f} | {'yes' if r['in_band'] else 'no'} "
                 f"| {r['p_band']:.2f} | {r['ceiling']:.2f} | {r['tail']:.3f} |")
  hits, expected = sum(r["in_band"] for r in rows), sum(r["p_band"] for r in rows)
  ceiling = sum(r["ceiling"] for r in rows)
  low = sum(r["tail"] < 0.01 for r in rows)
  lines += ["", f"{hits} of {len(rows)} records in the band; {expected:.1f} expected under "
            f"exchangeability ({ceiling:.1f} for thresholds of exactly 5%); {low} with a two-sided tail below 0.01. Mean observed "
            f"{np.mean([r['observed'] for r in rows]):.4f}, mean promised "
            f"{np.mean([r['promised'] for r in rows]):.4f}."]
  return "\n".join(lines)


def main(argv):
  markdown_path = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("--markdown=")), "")
  paths = [a for a in argv[1:] if not a.startswith("--")]
  if not paths:
    sys.exit("usage: false_alarm_band.py SUITE.json ... [--markdown=PATH]")
  table = markdown(rows_of(paths))
  print(table)
  if markdown_path:
    with open(markdown_path, "w") as f:
      f.write(table + "\n")


if __name__ == "__main__":
  main(sys.argv)
