#!/usr/bin/env bash
# 3-StackedMNIST, EnGAN vs the WGAN-GP baseline under the same budget (paper Table 1).
#
#   bench/stacked_mnist3_compare.sh DATA_DIR [TRAIN_STEPS] [RUN_ROOT]
#
# DATA_DIR holds the MNIST IDX files (e.g. ../shared/data). Trains the MNIST classifier
# once (>= 99% test accuracy, reused afterwards), then both models with
# configs/stacked_mnist3_cpu.cfg for TRAIN_STEPS generator updates (default: the config's
# 2,000, about an hour each on 2 cores), and prints modes and KL of 26,000 samples.
set -euo pipefail
data_dir=${1:?usage: $0 DATA_DIR [TRAIN_STEPS] [RUN_ROOT]}
steps=${2:-2000}
root=${3:-runs/stacked_mnist3_compare}
export TF_CPP_MIN_LOG_LEVEL=2
classifier=runs/mnist_classifier.keras
if [[ ! -f $classifier ]]; then
  python -m engan_tf.metrics.mnist_classifier --data_dir="$data_dir" --output="$classifier"
fi
for model in engan wgan_gp; do
  start=$(date +%s)
  python train.py --flagfile=configs/stacked_mnist3_cpu.cfg --data_dir="$data_dir" \
    --mode_classifier="$classifier" --model="$model" --model_dir="$root/$model" \
    --train_steps="$steps" --verbose=2
  echo "$model: $(( $(date +%s) - start )) s wall; final_eval: $(cat "$root/$model/final_eval.json" | tr -d '\n ')"
done
