"""A diagnostic: an energy trained by denoising score matching alone on one suite table.

How far can the energy's training objective take AUROC on a held-out class, without the
adversarial game? Trains E (an MLP) on the table's min-max-scaled training rows with
L = 0.5 ||sigma grad E(x + sigma eps) - eps||^2 (engan_tf.losses.denoising_score_matching),
sigma = --sigma neighbour spacings (engan_tf.recipes.neighbour_spacing), and prints the
test AUROC of E and of ||grad E||^2 beside k-NN distance (k = 5). It reads the test labels:
a look at a mechanism, never a way to choose a configuration (bench/cluster_selection.py
does that; BUILD_NOTES, sixteenth session).

  PYTHONPATH=. python bench/dsm_probe.py --dataset=digits_0 --steps=2000 --sigma=2 \\
      --architecture=swish256x3 --learning_rate=1e-3
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

ARCHITECTURES = {  # hidden widths, activation, head units (1: linear; > 1: 0.5 ||V h + b||^2)
    "swish256x3": ((256, 256, 256), "swish", 1),
    "swish256x3_quadratic": ((256, 256, 256), "swish", 64),
    "kdd_swish": ((256, 128, 128), "swish", 1),
    "kdd_quadratic": ((256, 128, 128), "leaky_relu", 32),  # the recipe's energy
}


def energy_network(d, architecture):
  import keras
  import tensorflow as tf
  widths, activation, head = ARCHITECTURES[architecture]
  layers = [keras.Input((d,))]
  for w in widths:
    layers.append(keras.layers.Dense(w))
    layers.append(keras.layers.LeakyReLU(0.2) if activation == "leaky_relu"
                  else keras.layers.Activation(activation))
  layers.append(keras.layers.Dense(head))
  net = keras.Sequential(layers)
  if head == 1:
    return net, lambda x, training=False: net(x, training=training)[:, 0]
  return net, lambda x, training=False: 0.5 * tf.reduce_sum(tf.square(net(x, training=training)), -1)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--dataset", default="digits_0", help="a small-table suite set (digits_<d>, "
                 "wine_<c>, breast_cancer)")
  p.add_argument("--steps", type=int, default=2000)
  p.add_argument("--sigma", type=float, default=2.0, help="in neighbour spacings")
  p.add_argument("--architecture", default="swish256x3", choices=sorted(ARCHITECTURES))
  p.add_argument("--learning_rate", type=float, default=1e-3)
  p.add_argument("--beta_1", type=float, default=0.9)
  p.add_argument("--batch_size", type=int, default=128)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()
  import keras
  import tensorflow as tf
  import anomaly_suite as suite
  from engan_tf import losses, recipes
  from sklearn.metrics import roc_auc_score
  base, _, anomaly_class = args.dataset.rpartition("_")
  ds = (suite.build_sklearn_table("breast_cancer") if args.dataset == "breast_cancer"
        else suite.build_sklearn_table(base, int(anomaly_class)))
  x_train, x_test = suite.minmax_fit_apply(ds.x_train, ds.x_test)
  sigma = args.sigma * recipes.neighbour_spacing(x_train)
  keras.utils.set_random_seed(args.seed)
  net, energy = energy_network(x_train.shape[1], args.architecture)
  optimizer = keras.optimizers.Adam(args.learning_rate, args.beta_1, 0.999)

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(losses.denoising_score_matching(
          energy, x, tf.random.normal(tf.shape(x)), sigma, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                                  net.trainable_variables))
    return loss

  rng = np.random.RandomState(args.seed)
  start = time.time()
  for _ in range(args.steps):
    loss = step(tf.constant(x_train[rng.choice(len(x_train), args.batch_size)]))
  e, score_norm = losses.energy_and_score_norm(energy, tf.constant(x_test))
  knn = suite.make_detector("knn", args.seed, None).fit(x_train)(x_test)
  print(json.dumps({**vars(args), "sigma_abs": round(sigma, 4), "final_loss": float(loss),
                    "seconds": round(time.time() - start, 1),
                    "auroc_energy": round(roc_auc_score(ds.y_test, e.numpy()), 3),
                    "auroc_score_norm": round(roc_auc_score(ds.y_test, score_norm.numpy()), 3),
                    "auroc_knn": round(roc_auc_score(ds.y_test, knn), 3)}))


if __name__ == "__main__":
  main()
