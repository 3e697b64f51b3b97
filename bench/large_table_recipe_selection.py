r"""Choosing the recipe of tables over 5,000 rows on the development split at full size (issue 17).

  # 1. the records: bench/anomaly_suite.py --development_split, one process per core, e.g.
  PYTHONPATH=. python bench/anomaly_suite.py --development_split --detectors=iforest,knn,engan \
      --datasets=kdd99,kddrev,kdd_lto_all --lto_max_test_rows=10000 --seeds=0 \
      --output=bench/results/large_recipe_dev_swish_dsm_seed0.json
  # 2. the criterion and the choice:
  PYTHONPATH=. python bench/large_table_recipe_selection.py \
      swish_dsm=bench/results/large_recipe_dev_swish_dsm_seed0.json,... \
      quadratic=... capped_10k=...

Why. The recipe of large tables (engan_tf/recipes.py: kdd_swish_energy, denoising term
weight 100, E's rate 5e-4; eighteenth session) replaced the quadratic energy without the
term (E's rate 5e-5) on a criterion measured with subsamples of 10,000 rows (about 1,000
steps). On KDD99's test half it then scored below the recipe it replaced (3 seeds 0.946
against 0.993 AUROC; nineteenth session, different sessions, not side by side), and the
development twin of kdd99 at full size (89,221 rows, 6,000 steps) reproduced the seed-2
failure (0.952) that the 10,000-row fits did not show. So the choice is made again at the
size a user's fit has: every training row of the development sets.

Protocol (this file committed before any run it names; twentieth session)
------------------------------------------------------------------------------
Candidates (all else the default AnomalyDetector: one fit, the shuffled-column decision rule):
  swish_dsm   today's recipe (4c274f5), every training row;
  quadratic   the recipe before 4c274f5 for tables over 5,000 rows (kdd_quadratic_energy,
              no denoising term, E's rate 5e-5), every training row; run from a worktree
              whose engan_tf/recipes.py is `git show 4c274f5^:engan_tf/recipes.py`;
  capped_10k  today's recipe fit on a seeded subsample of at most 10,000 training rows
              (`--engan_max_train_rows=10000`): a cap on the rows (and so the steps, about
              1,000) a fit sees. Its seeds 0-1 records are the nineteenth session's
              bench/results/decision_rule_dev_seed{0,1}.json (same code path and flags).
Development sets (`--development_split`, `--lto_max_test_rows=10000`): kdd99 and kddrev at
detector seeds 0, 1, 2; kdd_lto_all_<type> for the suite's 10 types at seed 0 (a seed of
the ten costs about 75 minutes on one core; the budget of one session allows one).
Records already made with the same flags are reused: swish_dsm kdd99 seeds 0 and 2
(bench/results/dev_fullscale_kdd99_seed{0,2}.json, nineteenth session).
Criterion of a candidate: the mean over the three families (kdd99; kddrev; kdd_lto_all, the
mean over its types) of the AUROC of the fit's own decision function, averaged over the
protocol's seeds of each set. The AUROCs of the energy and the score norm alone are shown
beside it (not chosen on).
Choice: the highest criterion; a candidate within 0.01 of swish_dsm's is a tie, and a tie
keeps swish_dsm (today's default). A candidate missing any record of the protocol is not
compared. The chosen candidate becomes the large-table recipe; KDD's test sets are then
reported once with it.
"""

import json
import sys

from bench.decision_rule_selection import FAMILIES, criterion

# bench/anomaly_suite.py's KDD_LTO_TYPES (a test checks they agree; importing the suite
# would define its flags here too)
KDD_LTO_TYPES = ("smurf", "neptune", "back", "satan", "ipsweep", "portsweep", "warezclient",
                 "teardrop", "pod", "nmap")

PROTOCOL = ({("kdd99", s) for s in (0, 1, 2)} | {("kddrev", s) for s in (0, 1, 2)}
            | {(f"kdd_lto_all_{t}", 0) for t in KDD_LTO_TYPES})
CURRENT = "swish_dsm"
TIE = 0.01
SHOWN = ("own", "energy", "score_norm")


def protocol_records(paths):
  """{(dataset, seed): engan record} of the protocol's sets found in the suite JSON files
  (a set found twice keeps the later file's record)."""
  found = {}
  for path in paths:
    with open(path, encoding="utf-8") as f:
      for r in json.load(f)["results"]:
        key = (r["dataset"], int(r["seed"]))
        if r["detector"] == "engan" and key in PROTOCOL:
          found[key] = r
  return found


def choose(scores):
  """The protocol's choice among {candidate: criterion} (ties within TIE keep CURRENT)."""
  best = max(scores, key=scores.get)
  return best if scores[best] > scores[CURRENT] + TIE else CURRENT


def main(args):
  """Prints the protocol's table and choice for NAME=SUITE_JSON[,...] arguments."""
  candidates = {}
  for arg in args:
    name, _, paths = arg.partition("=")
    candidates[name] = protocol_records(paths.split(","))
  if CURRENT not in candidates:
    sys.exit(f"the protocol compares against {CURRENT}=...; got {sorted(candidates)}")
  lines = ["Large-table recipe, development split at full size: AUROC (own decision "
           "function; energy and score norm alone beside it)", "",
           "| candidate | rule | " + " | ".join(FAMILIES) + " | **criterion** |",
           "|---|---|" + "---|" * (len(FAMILIES) + 1)]
  scores = {}
  for name, records in candidates.items():
    missing = sorted(PROTOCOL - set(records))
    if missing:
      lines.append(f"| {name} | missing {len(missing)} records: "
                   + ", ".join(f"{d} seed {s}" for d, s in missing) + " |")
      continue
    rule_scores, table, _ = criterion(list(records.values()))
    scores[name] = rule_scores["own"]
    for rule in SHOWN:
      cells = [f"{table[rule][f]:.3f}" for f in FAMILIES]
      value = f"**{rule_scores[rule]:.3f}**" if rule == "own" else f"{rule_scores[rule]:.3f}"
      lines.append(f"| {name} | {rule} | " + " | ".join(cells) + f" | {value} |")
  if CURRENT in scores:
    lines += ["", f"Chosen (ties within {TIE} keep {CURRENT}): **{choose(scores)}**"]
  else:
    lines += ["", f"No choice: {CURRENT} lacks records of the protocol."]
  print("\n".join(lines))


if __name__ == "__main__":
  main(sys.argv[1:] or sys.exit(
      "usage: large_table_recipe_selection.py NAME=SUITE_JSON[,SUITE_JSON...] ..."))
