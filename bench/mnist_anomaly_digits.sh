#!/usr/bin/env bash
# MNIST held-out digit (paper Table 4: digits 1, 4, 5, 7, 9), one run per digit under the same
# wall-time budget, then AUPRC of both decision functions per evaluation.
#
#   bench/mnist_anomaly_digits.sh DATA_DIR [MINUTES] [RUN_ROOT] [EXTRA TRAIN.PY FLAGS...]
#
# DATA_DIR holds the MNIST IDX files. Each digit trains configs/mnist_anomaly_cpu.cfg for
# MINUTES (default 10) of training, evaluated every 100 generator steps.
set -euo pipefail
data_dir=${1:?usage: $0 DATA_DIR [MINUTES] [RUN_ROOT] [EXTRA FLAGS...]}
minutes=${2:-10}
root=${3:-runs/mnist_anomaly_digits}
shift $(( $# < 3 ? $# : 3 ))
export TF_CPP_MIN_LOG_LEVEL=2
for digit in 1 4 5 7 9; do
  start=$(date +%s)
  python train.py --flagfile=configs/mnist_anomaly_cpu.cfg --data_dir="$data_dir" \
    --anomaly_digit="$digit" --model_dir="$root/digit$digit" --train_steps=100000 \
    --steps_per_epoch=100 --max_train_minutes="$minutes" --verbose=2 "$@"
  echo "digit $digit: $(( $(date +%s) - start )) s wall"
  python - "$root/digit$digit/eval.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
  r = json.loads(line)
  print(f"  step {r['step']}{' (final)' if r['final'] else ''}: AUPRC score norm "
        f"{r['score_norm/auprc']:.3f}, energy {r['energy/auprc']:.3f}")
PY
done
