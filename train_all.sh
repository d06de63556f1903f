#!/usr/bin/env bash
# Reproduce every shipped weight file (and the block-PCA baseline) from ../shared/data/photos.
# Each model's command, steps, wall time and device end up in weights/manifest.json.
set -euo pipefail
cd "$(dirname "$0")"
python -m autoencoder fit-pca --data ../shared/data/photos
for config in configs/conv-c4.json configs/conv-c8.json configs/conv-c16.json configs/conv-c32.json \
              configs/conv-c64.json configs/dense-d256.json configs/dense-d2048.json; do
  python -m autoencoder train --config "$config" --no-progress "$@"
done
