#!/usr/bin/env bash
# Reproduce every shipped weight file (and the block-PCA baseline) from ../shared/data/photos.
# Each model's command, steps, wall time and device end up in weights/manifest.json.
#
# The conv models train in two streams side by side, one CPU thread each: on the 2-core
# reference machine that finishes sooner than one 2-thread stream (small convs scale badly
# across threads). The conv configs train in bfloat16 where the processor has it natively (AMX,
# or a CUDA GPU) and in float32 elsewhere ("precision": "auto"; the manifest records which).
# Extra arguments go to every `train` call (e.g. --device cuda).
# `python -m autoencoder bench --training` predicts how long all this takes on your machine.
set -euo pipefail
cd "$(dirname "$0")"
python -m autoencoder fit-pca --data ../shared/data/photos --out weights
train() { for config in "$@"; do python -m autoencoder train --config "configs/$config.json" --no-progress --threads 1 --out weights "${EXTRA[@]}"; done; }
EXTRA=("$@")
train conv-c64 conv-c16 conv-c4 dense-d2048 &
first=$!
train conv-c32 denoise-c32 conv-c8 dense-d256
wait "$first"
