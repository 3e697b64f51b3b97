"""Default training recipes that adapt to the data: what `--recipe=auto` fills in.

A data set may carry a recipe (`DataSource.recipe`): TrainConfig values suited to its size
and shape. With `--recipe=auto` (the default) `engan_tf.build.resolve` applies each of them
to a field the user left at its TrainConfig default; `--recipe=paper` applies none (the
flags' defaults are the paper's Algorithm 1 values). The resolved config, recipe included,
is printed at the start of training and stored in model_dir/config.json.

`tabular(n_train, n_features)` is the recipe of every table (`--dataset=csv`), so a
500-row and a 500,000-row table get a detector from the same command. Each choice, and
the measurement behind it, is in BUILD_NOTES.md ("Anomaly: one default recipe"):

  networks       kdd_quadratic_energy: E = 0.5 ||V h + b||^2 grows away from the data
                 (an anomaly far from every training row scores high in energy), and its
                 gradient does not vanish there as a bounded head's does
  batch_size     n_train / 8, within [32, 256]: small tables still see several batches
  train_steps    about 30 passes over the training rows, within [1,000, 6,000] generator
                 steps (the budget: 10,000 rows in < 3 minutes, 500,000 in < 20, 2 cores)
  learning rates Adam 1e-4 (G, T) and 5e-5 (E); E averaged (ema_decay 0.999): the last
                 iterate of an adversarial game wanders, the average does not
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
"""

RECIPES = ("auto", "paper")
ENSEMBLE_MAX_ROWS = 5_000  # tables up to this many training rows get a 3-fit ensemble


def tabular(n_train, n_features):
  """TrainConfig values for a table of n_train normal training rows and n_features features."""
  del n_features  # the networks' widths are the kdd family's; measured as enough up to 121
  batch_size = int(min(256, max(32, n_train // 8)))
  passes = 30
  train_steps = int(min(6000, max(1000, passes * n_train // batch_size)))
  return {"networks": "kdd_quadratic_energy", "batch_size": batch_size,
          "train_steps": train_steps, "learning_rate": 1e-4, "energy_learning_rate": 5e-5,
          "ema_decay": 0.999, "eval_every": 0,
          "ensemble_size": 3 if n_train <= ENSEMBLE_MAX_ROWS else 1}
