"""What a model has to beat: Pillow's JPEG and WebP with real bytes, and block-PCA.

`python -m autoencoder fit-pca --data DIR` fits the block-PCA baseline on every 8×8 block of
the training split at full resolution and writes weights/block-pca.safetensors plus its
manifest entry.
"""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .data import decode_image, list_images, split_train_val
from .pretrained import read_manifest, sha256_of, weights_dir, write_manifest

CODEC_QUALITIES = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
PILLOW_FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}
PCA_FILE = "block-pca.safetensors"


@dataclass
class Encoded:
    codec: str
    quality: int
    num_bytes: int
    decoded: np.ndarray  # uint8 (H, W, 3)


def pillow_roundtrip(image: np.ndarray, codec: str, quality: int) -> Encoded:
    """Encode with Pillow at `quality` (4:2:0 chroma for JPEG, as its default), decode back."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=PILLOW_FORMATS[codec], quality=quality)
    data = buffer.getvalue()
    decoded = np.array(Image.open(io.BytesIO(data)).convert("RGB"))  # writable: torch warns on read-only arrays
    return Encoded(codec, quality, len(data), decoded)


def codec_ladder(image: np.ndarray, codec: str, qualities=CODEC_QUALITIES) -> list[Encoded]:
    return [pillow_roundtrip(image, codec, q) for q in qualities]


def best_within_bytes(image: np.ndarray, codec: str, budget: int) -> Encoded | None:
    """The highest quality (1…95) whose file fits in `budget` bytes; None if even quality 1 does not.

    File size grows with quality almost everywhere, so a binary search finds it in ~7 encodes.
    """
    low, high, best = 1, 95, None
    while low <= high:
        mid = (low + high) // 2
        encoded = pillow_roundtrip(image, codec, mid)
        if encoded.num_bytes <= budget:
            best, low = encoded, mid + 1
        else:
            high = mid - 1
    return best


def main(argv: list[str] | None = None) -> None:
    from .pca import fit_block_pca_full_resolution

    p = argparse.ArgumentParser(prog="python -m autoencoder fit-pca", description=__doc__)
    p.add_argument("--data", required=True, help="folder of training images (never the evaluation set)")
    p.add_argument("--val-every", type=int, default=12, help="hold out the same images as training")
    p.add_argument("--out", type=Path, help="weights folder (default: the shipped weights/)")
    args = p.parse_args(argv)
    out = args.out or weights_dir()
    train_files, _ = split_train_val(list_images(args.data), args.val_every)
    pca = fit_block_pca_full_resolution([decode_image(f) for f in train_files])
    path = out / PCA_FILE
    pca.save(path, {"data": str(args.data), "fit": "every 8×8 block at full resolution"})
    manifest = read_manifest(out)
    manifest["block_pca"] = {
        "file": PCA_FILE,
        "sha256": sha256_of(path),
        "command": "python -m autoencoder fit-pca " + " ".join(argv if argv is not None else []),
        "data": f"{args.data} ({len(train_files)} images, the training split; every 8×8 block at full resolution)",
    }
    write_manifest(manifest, out)
    print(f"wrote {path}; variance kept by C = 4/8/16/32/64: " + ", ".join(
        f"{float(pca.variances[:c].sum() / pca.variances.sum()):.4f}" for c in (4, 8, 16, 32, 64)))
