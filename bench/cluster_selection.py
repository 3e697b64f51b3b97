r"""Choosing the default tabular recipe by a held-out-cluster criterion (issue 17).

  PYTHONPATH=. python bench/cluster_selection.py --candidates=recipe,lambda0.01 \
      --dev_sets=breast_cancer,wine_0,digits_1,digits_5 \
      --selection_output=bench/results/cluster_selection.json
  PYTHONPATH=. python bench/cluster_selection.py --report_only        # the table again

Why this criterion. The eighth session's label-free criterion (x_val against column-shuffled
rows, bench/common.py) did not predict held-out-class AUROC (Spearman -0.04): a
broken dependency between columns is not what the suite's anomalies are. They are rows of a
class the detector never saw, each plausible, in another region. A held-out cluster of the
normal training rows is such a "class", made without labels:

Protocol (written down, and this file committed, before any candidate ran)
---------------------------------------------------------------------------
For one development set, from its normal training rows x_train only (the suite's x_val and
test rows are not used):
 1. k-means (scikit-learn, k-means++, n_init 10, random_state 0) on x_train with
    k = clip(len(x_train) // 25, 3, 8) clusters.
 2. Folds: the 2 clusters whose sizes are closest to the median cluster size (ties: the
    lower cluster index), each of at least 5 rows.
 3. For a fold with held-out cluster c: the rows of the other clusters are split (seeded,
    20% / 80%) into evaluation-normal rows and fit rows; the detector (the candidate's
    values on top of the default recipe, `engan_tf.AnomalyDetector(config=...)`, detector
    seed 0) is fit on the fit rows only and scores the evaluation-normal rows and cluster c.
 4. criterion(fold) = AUROC(evaluation-normal vs cluster c) of the decision function the
    detector chose itself (recorded for the energy and the score norm forced as well);
    criterion(set) = mean over its 2 folds; criterion = mean over the families (breast
    cancer; wine; digits) of the mean over each family's sets.
Choice: the highest criterion; candidates within 0.01 are tied and the tie goes to the one
nearer the current recipe (listed first). IsolationForest and k-NN (k = 5) get the same
folds, for scale.

Tenth session (this addition committed before its runs): every engan candidate runs with
detector seeds 0, 1 and 2 (anomaly_suite's `--seeds`; the criterion of a candidate is then its mean over
seeds and folds), and the post-hoc candidates (POSTHOC below: the mix of energy and score
norm of one fit; the three seeds' standardised scores averaged, costing three fits) are
candidates as well; same choice rule.

Twelfth session (this addition committed before its runs): candidate steps3x_elr2x,
detector seeds 0, 1, 2, with the recipe re-run beside them on the same machine (the
tenth session's records came from another CPU); same criterion, post-hoc candidates and
choice rule. Each fit is one fit (ensemble_size 1, as the tenth session's were; the recipe
now trains a 3-fit ensemble on these tables, which is the post-hoc "_energy_ensemble" of
seeds 0-2). Added before its runs as well: decay0.6 (a candidate lr4x, listed in b29b758,
was removed unrun). Two processes may write two --selection_output files; --merge_from adds
the records of other files to the report.

Thirteenth session (this addition committed before it was computed): post-hoc candidates
"<c>_energy_ensemble_wall<m>" for m in 0.1, 0.25, 0.5, from the saved scores of the
twelfth session's recipe fits (no new fit): the seed ensemble's standardised energy plus a
support wall, 0.5 * sum_i (excess_i / 0.1)^2, excess_i = how far feature i of the row lies
outside [-m, 1 + m] after the library's min-max scaling (fit on the detector's own training
rows: its fit rows without the validation split, engan_tf.data.tabular.validation_split
with share 0.2 and seed 42). A row outside every training row's range by more than m of
the column's span is input the energy was never trained on; the wall ranks it as anomalous
in proportion to how far out it is. Same criterion and choice rule (the recipe without a
wall listed first).

Fourteenth session (this addition committed before its runs): the decision rule of tables
the recipe fits once (more than engan_tf.recipes.ENSEMBLE_MAX_ROWS training rows). Dev sets
kdd99 and kddrev (the suite's; their x_train only), each subsampled (seeded) to
--dev_max_rows = 10,000 rows before the k-means step, so that a fold's detector is one fit
(6,400 rows: the recipe's ensemble_size is 1, 1,000 steps). Candidate: recipe, detector
seeds 0, 1, 2; its post-hoc "recipe_mix" (the mean of the standardised energy and log score
norm of the same fit) against the fit's own choice ("recipe"), the energy and the score
norm forced. Criterion: the mean over the two sets (each a family). Choice: the mix becomes
the decision function of one-fit tables if its criterion is more than 0.01 above the own
choice's; otherwise the rule stays.

Sixteenth session (this addition committed before its runs): a denoising score-matching
term on the energy (--dsm_weight, --dsm_sigma in neighbour spacings; engan_tf/losses.py).
The energy of the recipe is flat between and around the training rows, where a held-out
class lies: the paper's penalty fixes grad E = 0 on the rows and nothing else shapes E
there. DSM's minimiser is -log of the data density smoothed at the noise's scale (the
density EnGAN's energy targets), which rises away from the rows. A look at one suite set's
test labels (digits_0, not a dev set; BUILD_NOTES) showed the mechanism and its two
requirements: a smooth energy (a LeakyReLU network's DSM loss stayed 3x higher) and a
higher energy learning rate; the candidates below are those settings, not tuned further.
Candidates: dsm_w10 (the recipe's networks and rates plus the term at weight 10),
dsm_swish (the swish energy, weight 100, energy rate 5e-4, sigma 2 spacings) and its
sigma 1 and 4 variants; detector seed 0 only (time), the recipe re-run beside them; same
criterion and choice rule (the recipe listed first).

Eighteenth session (this addition committed before its runs): the denoising term on tables
the recipe fits once (more than engan_tf.recipes.ENSEMBLE_MAX_ROWS training rows), which
keep the paper's loss today; the MNIST family, scored through the table recipe, sits below
IsolationForest (AUROC 0.516 against 0.563, fourteenth session), and an energy nothing
shapes between the training rows is the cause the sixteenth session's term addressed on
the small digits. Dev sets kdd99, kddrev and mnist_0 (their x_train only), each subsampled
(seeded) to --dev_max_rows = 10,000 rows before k-means, so each fold's detector is one fit
(the fourteenth session's one-fit protocol; mnist_0 is added so that the family where the
recipe is weakest is in the criterion). Candidates: recipe (no term on these tables),
dsm_w10, dsm_swish (as defined below, forced on these tables by their config values);
detector seeds 0, 1, 2. Criterion: the mean over the three sets (each a family). Choice:
the highest criterion; within 0.01 is a tie, which goes to the candidate nearer the recipe
(recipe, then dsm_w10, then dsm_swish). If a term candidate is chosen, the recipe turns
the term on for every table and the suite's KDD family and MNIST sets are run once after.

Afterwards, and never to choose: the validity of the criterion is checked by the same
candidates' test AUROC on the development sets (bench/anomaly_suite.py, seed 0), and the
chosen recipe runs the suite's small tables for 3 seeds once.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import anomaly_suite as suite  # pylint: disable=g-import-not-at-top,wrong-import-position
import selection_common as common  # pylint: disable=g-import-not-at-top,wrong-import-position

# Each candidate: TrainConfig values on top of the recipe (engan_tf/recipes.py); why each
# is a candidate is in BUILD_NOTES.md ("Ninth session").
CANDIDATES = {
    "recipe": {},
    # The score penalty sets the energy's temperature (E -> c E scales it by c^2):
    # weaker -> sharper wells around each region of the data, stronger -> smoother.
    "lambda0.01": {"lambda_penalty": 0.01},
    "lambda1": {"lambda_penalty": 1.0},
    # Three times the recipe's generator steps (1,000 on these tables): the energy of a
    # short adversarial run may not have separated the regions of the data yet.
    "steps3x": {"train_steps": 3000},
    # The paper's n_mcmc: 10 latent MALA steps on E(G(z)) before each negative phase, so
    # the negatives move toward E's wells and push up where G alone would not go.
    "mcmc10": {"mcmc_steps": 10},
    # Twelfth session: after the recipe's 1,000 steps on a digits fold the energy's medians
    # on the fit rows, the held-out cluster and G's samples were within 0.05-0.2 of each
    # other (an energy that has barely separated the regions); more energy training (three
    # times the steps at twice the energy's rate) separated them further on that fold (one
    # seed; see BUILD_NOTES).
    "steps3x_elr2x": {"train_steps": 3000, "energy_learning_rate": 1e-4},
    # Every rate decays linearly to 0 over the last 40% of the steps (--lr_decay_start=0.6,
    # the toy config's): on a synthetic 500,000-row table the recipe's one 6,000-step fit
    # wandered (energy AUROC on its own test half 1.00 at step 400, 0.88 at 1,600, 0.999 at
    # 2,800, 0.75 at the end), the toy's decay froze a good state of every seed.
    "decay0.6": {"lr_decay_start": 0.6},
    # Sixteenth session: denoising score matching on the energy (see the docstring).
    "dsm_w10": {"dsm_weight": 10.0, "dsm_sigma": 2.0},
    "dsm_swish": {"networks": "kdd_swish_energy", "dsm_weight": 100.0, "dsm_sigma": 2.0,
                  "energy_learning_rate": 5e-4},
    "dsm_swish_s1": {"networks": "kdd_swish_energy", "dsm_weight": 100.0, "dsm_sigma": 1.0,
                     "energy_learning_rate": 5e-4},
    "dsm_swish_s4": {"networks": "kdd_swish_energy", "dsm_weight": 100.0, "dsm_sigma": 4.0,
                     "energy_learning_rate": 5e-4},
}
# POSTHOC candidates, computed from a candidate's saved scores (no further fit), each score
# standardised by its median and interquartile range on the fit rows (known at deployment,
# no labels):
#  "<c>_mix": the mean of the standardised energy and log score norm of one fit (issue 17,
#     item 5: the score norm is zero on flat regions of E, the energy ranks by density);
#  "<c>_ensemble", "<c>_energy_ensemble", "<c>_mix_ensemble": the mean over the seeds of
#     the standardised own choice / energy / mix. The seeds of one command differ in AUROC
#     by as much as recipes do (BUILD_NOTES, ninth session): an average over seeds is the
#     plain way to remove that variance, at one fit per seed.
#  "<c>_energy_ensemble_wall<m>": that ensemble plus the support wall of the thirteenth
#     session's addition to the protocol (WALL_MARGINS).
WALL_MARGINS = (0.1, 0.25, 0.5)  # the width is the library's (engan_tf.support.WIDTH)
WALL_BASE = "recipe"  # the candidate whose seed ensemble gets the wall
MIN_CLUSTER_ROWS = 5
FOLDS = 2

flags.DEFINE_list("candidates", ["recipe"], "Candidates to run (names of CANDIDATES).")
flags.DEFINE_list("dev_sets", ["breast_cancer", "wine_0", "digits_1", "digits_5"],
                  "Development sets (bench/anomaly_suite.py names).")
flags.DEFINE_string("selection_output", "bench/results/cluster_selection.json",
                    "JSON results; records of other (candidate, set, fold) are kept.")
flags.DEFINE_bool("report_only", False, "Run nothing: print the table of --output.")
flags.DEFINE_bool("baselines", True, "Also run iforest and knn on the folds (for scale).")
flags.DEFINE_integer("num_threads", 1, "TensorFlow threads of each engan fit.")
flags.DEFINE_integer("dev_max_rows", 0, "Subsample (seeded) each dev set's training rows "
                     "to at most this many before clustering; 0: all.")
flags.DEFINE_list("merge_from", [], "Also report the records of these --selection_output "
                  "files (runs made in parallel processes).")
FLAGS = flags.FLAGS


def cluster_folds(x_train):
  """[(held-out cluster rows, evaluation-normal rows, fit rows)] of the protocol above."""
  from sklearn import cluster  # pylint: disable=g-import-not-at-top
  k = int(np.clip(len(x_train) // 25, 3, 8))
  labels = cluster.KMeans(k, n_init=10, random_state=0).fit_predict(x_train)
  sizes = np.bincount(labels, minlength=k)
  median = np.median(sizes)
  order = sorted((abs(s - median), c) for c, s in enumerate(sizes) if s >= MIN_CLUSTER_ROWS)
  folds = []
  for _, c in order[:FOLDS]:
    rest = np.flatnonzero(labels != c)
    rng = np.random.RandomState(1000 + c)
    rest = rng.permutation(rest)
    n_eval = max(5, len(rest) // 5)
    folds.append((int(c), x_train[labels == c], x_train[rest[:n_eval]], x_train[rest[n_eval:]]))
  return k, sizes.tolist(), folds


def dev_rows(factory, name):
  """The training rows of dev set `name` the protocol clusters (--dev_max_rows)."""
  return suite._subsample(factory.build(name).x_train, FLAGS.dev_max_rows, 0)  # pylint: disable=protected-access


def run_fold(candidate, held_out, normal, fit_rows, seed=0):
  """{auto, energy, score_norm: AUROC, chosen, fit_s} of one engan fit, or a baseline's.

  An engan record also keeps, per decision function, its scores of the evaluation-normal
  and held-out rows standardised by the median and interquartile range of its scores on the
  fit rows (the score norm on a log scale: it spans decades), for the post-hoc candidates.
  """
  start = time.perf_counter()
  if candidate in ("iforest", "knn"):
    score = suite.make_detector(candidate, 0, None).fit(fit_rows)
    a = common.auroc(score(normal), score(held_out))
    return {"auto": a, "fit_s": round(time.perf_counter() - start, 1)}
  # One fit per record: the recipe's seed ensemble is the post-hoc "_energy_ensemble".
  config = dict(CANDIDATES[candidate], num_threads=FLAGS.num_threads, ensemble_size=1)
  det = suite.EnganDetector(seed, None, {"config": config})
  det.fit(fit_rows)
  model = det.model
  record = {"chosen": model.decision_function_, "fit_s": round(time.perf_counter() - start, 1),
            "scores": common.standardised_scores(model, fit_rows,
                                                 {"normal": normal, "held_out": held_out})}
  for name in common.DECISION_FUNCTIONS:
    record[name] = common.auroc(record["scores"][name]["normal"],
                                record["scores"][name]["held_out"])
  record["auto"] = record[record["chosen"]]
  return record


def posthoc_records(records):
  """Candidates computed from saved scores, without a fit (see POSTHOC)."""
  groups = {}
  for r in records:
    if "scores" in r:
      groups.setdefault((r["candidate"], r["dataset"], r["cluster"]), []).append(r)
  out = []
  for (candidate, dataset, cluster), rows in groups.items():
    common_fields = {"dataset": dataset, "cluster": cluster}
    for r in rows:  # the mix of one fit
      fit = [(r["scores"], r["chosen"])]
      out.append({"candidate": f"{candidate}_mix", "seed": r["seed"], "fit_s": r["fit_s"],
                  "auto": common.auroc(*(common.combined(fit, "mix", part)
                                         for part in ("normal", "held_out"))),
                  **common_fields})
    if len(rows) < 2:
      continue
    fits = [(r["scores"], r["chosen"]) for r in rows]
    for kind in ("auto", "energy", "mix"):  # the seed ensembles
      normal, held_out = (common.combined(fits, kind, part) for part in ("normal", "held_out"))
      suffix = "_ensemble" if kind == "auto" else f"_{kind}_ensemble"
      out.append({"candidate": candidate + suffix, "seed": "+".join(str(r["seed"]) for r in rows),
                  "auto": common.auroc(normal, held_out),
                  "fit_s": float(np.sum([r["fit_s"] for r in rows])), **common_fields})
  return out


def support_penalty(fit_rows, rows, margin):
  """[n] the library's wall (engan_tf.support.penalty, in units of its scale) of rows, after
  the min-max scaling the library fits on the detector's own training rows (the fit rows
  without its validation split)."""
  from engan_tf import support  # pylint: disable=g-import-not-at-top
  from engan_tf.data import tabular  # pylint: disable=g-import-not-at-top
  own, _ = tabular.validation_split(np.arange(len(fit_rows)), tabular.CSV_VALIDATION_SHARE)
  low, high = fit_rows[own].min(axis=0), fit_rows[own].max(axis=0)
  scaled = (rows - low) / np.where(high > low, high - low, 1.0)
  return support.penalty(scaled, margin).numpy()


def wall_records(records):
  """The WALL_BASE seed ensemble's standardised energy plus the support wall (see POSTHOC);
  rebuilds each fold's rows from the data (the folds are deterministic)."""
  groups = {}
  for r in records:
    if r["candidate"] == WALL_BASE and "scores" in r:
      groups.setdefault((r["dataset"], r["cluster"]), []).append(r)
  groups = {key: rows for key, rows in groups.items() if len(rows) > 1}
  if not groups:
    return []
  factory = suite.DatasetFactory(FLAGS.data_dir, FLAGS.split_seed, FLAGS.val_share,
                                 FLAGS.lto_max_test_rows, FLAGS.mnist_max_train_rows)
  folds = {}
  for dataset in dict.fromkeys(d for d, _ in groups):
    for cluster, held_out, normal, fit_rows in cluster_folds(dev_rows(factory, dataset))[2]:
      folds[(dataset, cluster)] = {"held_out": held_out, "normal": normal, "fit": fit_rows}
  out = []
  for (dataset, cluster), rows in groups.items():
    fold = folds[(dataset, cluster)]
    fits = [(r["scores"], r["chosen"]) for r in rows]
    energy = {part: common.combined(fits, "energy", part) for part in ("normal", "held_out")}
    for margin in WALL_MARGINS:
      walled = {part: energy[part] + support_penalty(fold["fit"], fold[part], margin)
                for part in energy}
      out.append({"candidate": f"{WALL_BASE}_energy_ensemble_wall{margin:g}",
                  "seed": "+".join(str(r["seed"]) for r in rows), "dataset": dataset,
                  "cluster": cluster, "auto": common.auroc(walled["normal"], walled["held_out"]),
                  "fit_s": float(np.sum([r["fit_s"] for r in rows]))})
  return out


def report(data):
  records = data["records"] + [r for path in FLAGS.merge_from
                               for r in common.load(path)["records"]]
  records += posthoc_records(records) + wall_records(records)
  names = list(dict.fromkeys(r["candidate"] for r in records))
  sets = list(dict.fromkeys(r["dataset"] for r in records))
  per = {}
  for r in records:
    per.setdefault((r["candidate"], r["dataset"]), []).append(r)
  lines = ["Held-out-cluster criterion: AUROC(evaluation-normal rows vs a held-out k-means "
           "cluster), mean of 2 folds; the detector's own decision function "
           "[energy / score norm forced]", "",
           "| candidate | " + " | ".join(sets) + " | **criterion** (family mean) | energy "
           "forced | score norm forced | fit s (mean) |", "|---|" + "---|" * (len(sets) + 4)]
  for c in names:
    cells, crit, forced = [], {}, {n: {} for n in common.DECISION_FUNCTIONS}
    for s in sets:
      rows = per.get((c, s), [])
      if not rows:
        cells.append("-")
        continue
      crit[s] = float(np.mean([r["auto"] for r in rows]))
      for n in forced:
        if n in rows[0]:
          forced[n][s] = float(np.mean([r[n] for r in rows]))
      tags = "".join("E" if r.get("chosen") == "energy" else "S" for r in rows
                     if "chosen" in r)
      cells.append(f"{crit[s]:.3f}{' ' + tags if tags else ''}"
                   f"{'' if len({r['cluster'] for r in rows}) == FOLDS else ' (partial)'}")
    forced_cells = [f"{common.family_mean(forced[n]):.3f}" if forced[n] else "-"
                    for n in common.DECISION_FUNCTIONS]
    fit = np.mean([r["fit_s"] for s in sets for r in per.get((c, s), [])])
    lines.append(f"| {c} | " + " | ".join(cells) + f" | **{common.family_mean(crit):.3f}**"
                 f" | {forced_cells[0]} | {forced_cells[1]} | {fit:.0f} |")
  lines += ["", "(E / S per fold: the decision function the detector chose on its own "
            "held-out rows.)"]
  return "\n".join(lines)


def main(argv):
  del argv
  data = common.load(FLAGS.selection_output)
  # The wall's post-hoc records rebuild each fold from the data: the same subsample or none.
  if data.setdefault("dev_max_rows", FLAGS.dev_max_rows) != FLAGS.dev_max_rows:
    raise app.UsageError(f"{FLAGS.selection_output} was run with --dev_max_rows="
                         f"{data['dev_max_rows']}; pass the same value")
  if FLAGS.report_only:
    print(report(data))
    return
  data.setdefault("cpu", suite.cpu_model())
  factory = suite.DatasetFactory(FLAGS.data_dir, FLAGS.split_seed, FLAGS.val_share,
                                 FLAGS.lto_max_test_rows, FLAGS.mnist_max_train_rows)
  done = {(r["candidate"], r["dataset"], r["cluster"], r.get("seed", 0))
          for r in data["records"]}
  jobs = (["iforest", "knn"] if FLAGS.baselines else []) + list(FLAGS.candidates)
  for name in suite.expand_datasets(FLAGS.dev_sets):
    k, sizes, folds = cluster_folds(dev_rows(factory, name))
    print(f"[clusters] {name}: k {k}, sizes {sizes}, folds {[f[0] for f in folds]}", flush=True)
    for c in jobs:
      seeds = [0] if c in ("iforest", "knn") else [int(s) for s in FLAGS.seeds]
      for seed, (cluster_index, held_out, normal, fit_rows) in (
          (s, f) for s in seeds for f in folds):
        if (c, name, cluster_index, seed) in done:
          continue
        record = run_fold(c, held_out, normal, fit_rows, seed)
        record.update(candidate=c, dataset=name, cluster=cluster_index, seed=seed, k=k,
                      n_held_out=len(held_out), n_normal=len(normal), n_fit=len(fit_rows))
        print(f"[fold] {c} seed {seed} {name} cluster {cluster_index}: {record['auto']:.3f} "
              f"{record.get('chosen', '')} ({record['fit_s']} s)", flush=True)
        data["records"].append(record)
        done.add((c, name, cluster_index, seed))
        common.save(FLAGS.selection_output, data)
  print(report(data))


if __name__ == "__main__":
  app.run(main)
