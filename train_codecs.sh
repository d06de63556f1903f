#!/usr/bin/env bash
# Reproduce the codec ladder: rate–distortion fine-tunes of the shipped conv models (run
# ./train_all.sh first if you retrain those). Two streams side by side, one CPU thread each,
# as in train_all.sh; each model's command, steps, wall time and device go to the manifest.
# Extra arguments go to every `train` call (e.g. --device cuda).
set -euo pipefail
cd "$(dirname "$0")"
train() { for config in "$@"; do python -m autoencoder train --config "configs/$config.json" --no-progress --threads 1 --out weights "${EXTRA[@]}"; done; }
EXTRA=("$@")
# Each codec-*-cb model re-trains the entropy model of the codec-*-hp model it starts from (its
# transform frozen), with a checkerboard context, so it runs after that one in the same stream.
train codec-c64-hp codec-c64-hp-lo codec-c8-hp codec-c64-cb codec-c64-cb-lo codec-c8-cb &
first=$!
train codec-c32-hp codec-c32-hp-lo codec-c32-fp codec-c16-hp codec-c16-cb codec-c32-cb codec-c32-cb-lo
wait "$first"
