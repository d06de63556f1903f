#!/usr/bin/env bash
# Reproduce the codec ladder: rate–distortion fine-tunes of the shipped conv models (run
# ./train_all.sh first if you retrain those). Two streams side by side, one CPU thread each,
# as in train_all.sh; each model's command, steps, wall time and device go to the manifest.
# Extra arguments go to every `train` call (e.g. --device cuda).
set -euo pipefail
cd "$(dirname "$0")"
train() { for config in "$@"; do python -m autoencoder train --config "configs/$config.json" --no-progress --threads 1 --out weights "${EXTRA[@]}"; done; }
EXTRA=("$@")
train codec-c64-hp codec-c64-hp-lo codec-c8-hp &
first=$!
train codec-c32-hp codec-c32-hp-lo codec-c32-fp codec-c16-hp codec-c16-cb  # codec-c16-cb starts from codec-c16-hp
wait "$first"
