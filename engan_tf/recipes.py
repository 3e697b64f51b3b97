"""Default training recipes that adapt to the data: what `--recipe=auto` fills in.

A data set may carry a recipe (`DataSource.recipe`): TrainConfig values suited to its size
and shape. With `--recipe=auto` (the default) `engan_tf.build.resolve` applies each of them
to a field the user left at its TrainConfig default; `--recipe=paper` applies none (the
flags' defaults are the paper's Algorithm 1 values). The resolved config, recipe included,
is printed at the start of training and stored in model_dir/config.json.

`tabular(n_train, n_features)` is the recipe of every table (`--dataset=csv`), so a
500-row and a 500,000-row table get a detector from the same command. Each choice, and
the measurement behind it, is in BUILD_NOTES.md ("Anomaly: one default recipe"):

  networks       up to 5,000 rows kdd_quadratic_energy: E = 0.5 ||V h + b||^2 grows away
                 from the data (an anomaly far from every training row scores high in
                 energy), and its gradient does not vanish there as a bounded head's does;
                 larger tables kdd_swish_energy, a smooth energy the denoising term fits
                 (below)
  max_train_rows 8,000 above that size: a larger table is fit on a seeded subsample of
                 8,000 of its normal rows (its scaling, threshold and decision function
                 still use every row). On KDD99's training half split again (a labelled
                 development split: kdd99, kddrev and 10 leave-type-out sets at full size,
                 89,221-111,108 rows, 6,000 steps) the capped fit scored AUROC 0.974
                 against 0.946 for every row and 0.885 for the quadratic energy without the
                 term: longer fits on more rows let the score norm or the energy rank new
                 traffic below the training rows (BUILD_NOTES twentieth session)
  batch_size     n_fit / 8, within [32, 256] (n_fit: the rows fit on): small tables still
                 see several batches
  train_steps    at least 30 passes over the rows fit on, within [1,000, 6,000] generator
                 steps: with the 8,000-row cap, 1,000 for every table (the budget: 10,000
                 rows in < 3 minutes, 500,000 in < 20, 2 cores)
  learning rates Adam 1e-4 (G, T) and 5e-5 (E; 5e-4 on larger tables, with the term's
                 weight 100); E averaged (ema_decay 0.999): the last iterate of an
                 adversarial game wanders, the average does not
  dsm_weight     denoising score matching on the energy at 2 neighbour spacings
                 (neighbour_spacing): E rises between and around the rows, where a class
                 the model never saw lies, instead of staying flat. Up to 5,000 rows weight
                 10 on the quadratic energy (held-out-cluster criterion 0.831 against 0.800
                 without it, sixteenth session); larger tables weight 100 on the swish
                 energy at E's rate 5e-4 (0.856 against 0.826 on kdd99, kddrev and MNIST
                 subsamples, eighteenth session)
  eval_every     0: one evaluation at the end (selection needs --select_metric)
  ensemble_size  3 up to 5,000 rows, else 1: the mean of three fits' standardised energies
                 (engan_tf/ensemble.py). A held-out-cluster criterion on tables of 50-1,200
                 rows chose it over one fit (0.811 against 0.766; BUILD_NOTES tenth
                 session): on small tables one fit's AUROC varies with its seed as much as
                 between recipes. Larger tables keep one fit: an ensemble decides on its
                 energy, and on kdd99 (178,525 rows) three fits' energy scored AUROC 0.34
                 where one fit, deciding on its own, scored 0.99 (BUILD_NOTES twelfth
                 session), though on a synthetic 500,000-row table it rescued a bad seed

Example:
  >>> tabular(n_train=4_000, n_features=31)["batch_size"]
  256
  >>> large = tabular(n_train=500_000, n_features=121)
  >>> large["max_train_rows"], large["train_steps"]
  (8000, 1000)
"""

import numpy as np

RECIPES = ("auto", "paper")
ENSEMBLE_MAX_ROWS = 5_000  # tables up to this many training rows get a 3-fit ensemble
LARGE_TABLE_FIT_ROWS = 8_000  # larger tables are fit on a subsample of this many rows
SMALL_TABLE_DSM_WEIGHT = 10.0  # and denoising score matching on the energy; larger ones
LARGE_TABLE_DSM_WEIGHT = 100.0  # one fit, whose smooth energy learns faster from the term


def tabular(n_train, n_features):
  """TrainConfig values for a table of n_train normal training rows and n_features features."""
  del n_features  # the networks' widths are the kdd family's; measured as enough up to 121
  n_fit = min(n_train, LARGE_TABLE_FIT_ROWS)
  batch_size = int(min(256, max(32, n_fit // 8)))
  passes = 30
  train_steps = int(min(6000, max(1000, passes * n_fit // batch_size)))
  common = {"batch_size": batch_size, "train_steps": train_steps, "learning_rate": 1e-4,
            "ema_decay": 0.999, "eval_every": 0}  # and --dsm_sigma's default, 2 spacings
  if n_train > LARGE_TABLE_FIT_ROWS:
    common["max_train_rows"] = LARGE_TABLE_FIT_ROWS
  if n_train <= ENSEMBLE_MAX_ROWS:
    return {**common, "networks": "kdd_quadratic_energy", "energy_learning_rate": 5e-5,
            "ensemble_size": 3, "dsm_weight": SMALL_TABLE_DSM_WEIGHT}
  return {**common, "networks": "kdd_swish_energy", "energy_learning_rate": 5e-4,
          "ensemble_size": 1, "dsm_weight": LARGE_TABLE_DSM_WEIGHT}


def neighbour_spacing(x, k=5, max_rows=2_000, seed=0):
  """The typical per-feature distance between neighbouring rows of x [n, d]: the median
  over (up to max_rows, sampled) distinct rows of the distance to their k-th nearest other
  distinct row, divided by sqrt(d). --dsm_sigma is in this unit: noise of std sigma moves a
  row by about sigma * sqrt(d), so sigma ~ 1 reaches its neighbours. Repeated rows count
  once: in a table of many copies (KDD99's attack traffic: 2,820 distinct rows in 10,000)
  the k-th nearest row is a copy at distance 0, which would turn the noise off.

  >>> neighbour_spacing(np.arange(10.0)[:, None], k=1)   # neighbours 1 apart
  1.0
  >>> neighbour_spacing(np.repeat(np.arange(10.0), 6)[:, None], k=1)   # copies count once
  1.0
  >>> neighbour_spacing(np.ones([5, 3]))   # one distinct row: no spacing
  0.0
  """
  rng = np.random.RandomState(seed)
  x = np.asarray(x).reshape(len(x), -1)
  if len(x) > 20 * max_rows:  # the distinct rows of a sample: a large table is not sorted whole
    x = x[rng.choice(len(x), 20 * max_rows, replace=False)]
  x = np.unique(x, axis=0)
  if len(x) < 2:
    return 0.0  # no neighbours (the term is then off: build.dsm_noise_std)
  if len(x) > max_rows:
    x = x[rng.choice(len(x), max_rows, replace=False)]
  x = x.astype(np.float64)
  k = min(k, len(x) - 1)
  squared = np.sum(x * x, axis=1)
  distances = []
  for start in range(0, len(x), 500):  # [500, n] blocks of squared distances
    block = squared[start:start + 500, None] + squared[None, :] - 2 * x[start:start + 500] @ x.T
    np.fill_diagonal(block[:, start:start + 500], np.inf)  # not a row's own neighbour
    distances.append(np.sqrt(np.maximum(np.partition(block, k - 1, axis=1)[:, k - 1], 0.0)))
  return float(np.median(np.concatenate(distances)) / np.sqrt(x.shape[1]))
