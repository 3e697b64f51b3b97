#!/usr/bin/env bash
# 3-StackedMNIST, EnGAN vs the WGAN-GP baseline under the same wall-time budget (paper Table 1).
#
#   bench/stacked_mnist3_compare.sh DATA_DIR [MINUTES] [RUN_ROOT] [EXTRA TRAIN.PY FLAGS...]
#
# DATA_DIR holds the MNIST IDX files (e.g. ../shared/data). Trains the MNIST classifier
# once (>= 99% test accuracy, reused afterwards), then both models, one after the other,
# with configs/stacked_mnist3_cpu.cfg for MINUTES of training each (default 60, evaluations
# included), and prints modes and KL of 26,000 samples. To give each model one core while
# the other core does other work:
#   taskset -c 0 bench/stacked_mnist3_compare.sh ../shared/data 60 runs/sm3 --num_threads=1
# (BUILD_NOTES' sixteenth session ran the two train.py commands at once, one core each.)
set -euo pipefail
data_dir=${1:?usage: $0 DATA_DIR [MINUTES] [RUN_ROOT] [EXTRA FLAGS...]}
minutes=${2:-60}
root=${3:-runs/stacked_mnist3_compare}
shift $(( $# < 3 ? $# : 3 ))
export TF_CPP_MIN_LOG_LEVEL=2
classifier=runs/mnist_classifier.keras
if [[ ! -f $classifier ]]; then
  python -m engan_tf.metrics.mnist_classifier --data_dir="$data_dir" --output="$classifier"
fi
for model in engan wgan_gp; do
  start=$(date +%s)
  python train.py --flagfile=configs/stacked_mnist3_cpu.cfg --data_dir="$data_dir" \
    --mode_classifier="$classifier" --model="$model" --model_dir="$root/$model" \
    --max_train_minutes="$minutes" --verbose=2 "$@"
  echo "$model: $(( $(date +%s) - start )) s wall; final_eval: $(tr -d '\n ' < "$root/$model/final_eval.json")"
done
