#!/usr/bin/env bash
# The accelerator run of issue 18 (part 3): CIFAR-10 (configs/cifar10.cfg, the paper's networks)
# trained for a fixed number of minutes on TFDS-free data, then the standard FID of generated
# samples against the real training images; prints ONE JSON line (steps/s, steps, minutes, FID,
# samples, device, FID weights). Installs nothing; fails clearly (a JSON line with "error",
# exit 3) where TensorFlow or the project's stack is missing. Details: bench/accelerator_cifar10.py.
#
#   bench/accelerator_cifar10.sh prepare --fp32_weights=~/.engan_tf/fid_inception.weights.h5 \
#       --data_dir=../shared/data       # once: .accel/ = float16 FID weights + the slice (55 MB)
#   bench/accelerator_cifar10.sh                                    # 5 min, 10,000 samples
#   bench/accelerator_cifar10.sh --minutes=1 --num_samples=500 --num_real=500   # CPU check
#   bench/accelerator_cifar10.sh --output=$OUT/accel.json -- --steps_per_execution=10
#
# Defaults are budgeted to finish inside 9 minutes on one H200 (16 cores; an estimate, not
# yet run on one). PYTHON picks the interpreter (default python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || { echo "{\"error\": \"no $PYTHON on PATH (set PYTHON=...)\"}"; exit 3; }
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export TF_FORCE_GPU_ALLOW_GROWTH=true   # training and FID run in two processes, one after the other
cd "$ROOT"
exec "$PYTHON" "$ROOT/bench/accelerator_cifar10.py" "$@"
