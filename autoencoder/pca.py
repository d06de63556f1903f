"""Block-PCA, all of it: the optimal linear transform of 8×8×3 blocks. Two uses: the starting
point of every conv and dense model's linear path, and the baseline a model must beat at the
same size. One fit (`fit_block_pca`) over two kinds of data: random training crops (where a
model starts) and every block of the photos at full resolution (the baseline).

`python -m autoencoder fit-pca --data DIR --out weights` fits the baseline on the training
split and writes weights/block-pca.safetensors plus its manifest entry (without --out: into
runs/block-pca/, leaving the shipped one alone).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from .data import RandomCrops, decode_image, list_images, split_train_val, to_tensor
from .files import write_new
from .manifest import read_manifest, write_manifest
from .models import ConvAutoencoder, ConvConfig
from .pretrained import sha256_of

BLOCK = ConvAutoencoder.downsampling_factor
PCA_FILE = "block-pca.safetensors"


@dataclass
class BlockPCA:
    mean: torch.Tensor  # (192,)
    basis: torch.Tensor  # (192, 192) orthonormal columns, by decreasing variance
    variances: torch.Tensor  # (192,)

    def as_model(self, channels: int) -> ConvAutoencoder:
        """The block-PCA code with `channels` coefficients as a (purely linear) conv model.

        The nonlinear branches start at zero and are never trained here, so this *is* block
        PCA, and it runs through the same padding, encode and decode code as the real models.
        """
        model = ConvAutoencoder(ConvConfig(latent_channels=channels, width=1, depth=0))
        model.init_from_pca(self.mean, self.basis, self.variances)
        return model.eval()

    def save(self, path: str | Path, metadata: dict | None = None) -> None:
        tensors = {"mean": self.mean, "basis": self.basis, "variances": self.variances}
        data = safetensors_bytes({k: v.contiguous() for k, v in tensors.items()}, metadata={"info": json.dumps(metadata or {})})
        write_new(Path(path), data, replace=True)  # atomic, and the mode open() gives (save_file makes 0600)

    @classmethod
    def load(cls, path: str | Path) -> BlockPCA:
        t = load_file(str(path))
        return cls(mean=t["mean"], basis=t["basis"], variances=t["variances"])


def fit_block_pca(batches: Iterable[torch.Tensor]) -> BlockPCA:
    """The one fit: every 8×8 block of every image in `batches` ((N, 3, H, W), H and W multiples
    of 8), in one pass, from the sums of the blocks and of their outer products (float64)."""
    total, outer, count = torch.zeros(3 * BLOCK * BLOCK, dtype=torch.float64), 0.0, 0
    for x in batches:
        blocks = _blocks(x)
        total, outer, count = total + blocks.sum(0), outer + blocks.T @ blocks, count + len(blocks)
    mean = total / count
    return _sorted_eigenbasis(mean, (outer - count * torch.outer(mean, mean)) / (count - 1))


def fit_on_crops(images: list[np.ndarray], scales: tuple[float, ...], crops: int = 4096, crop: int = 64,
                 seed: int = 0) -> BlockPCA:
    """Where a model starts: the blocks of `crops` seeded random crops (crop×crop, multi-scale,
    flipped), the distribution the model then trains on."""
    return fit_block_pca([RandomCrops(images, crop, scales, seed).sample(crops)])


def fit_full_resolution(images: list[np.ndarray]) -> BlockPCA:
    """The baseline: every 8×8 block of the images as they are (the block grid from the
    top-left corner, no resampling, no augmentation): the best linear block code for photos at
    the resolution they are evaluated at. Its last components hold full-resolution fine detail
    that downscaled crops lack, so at large C it is the stronger, fairer baseline (README)."""
    def whole_blocks(image: np.ndarray) -> torch.Tensor:
        h, w = (image.shape[0] // BLOCK) * BLOCK, (image.shape[1] // BLOCK) * BLOCK
        return to_tensor(image[:h, :w])

    return fit_block_pca(whole_blocks(image) for image in images)


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W), H and W multiples of 8 → every block as a row: (N·H/8·W/8, 192) float64."""
    return F.pixel_unshuffle(x, BLOCK).permute(0, 2, 3, 1).reshape(-1, 3 * BLOCK * BLOCK).double()


def _sorted_eigenbasis(mean: torch.Tensor, covariance: torch.Tensor) -> BlockPCA:
    """mean (192,) and covariance (192, 192), float64 → components by decreasing variance."""
    variances, vectors = torch.linalg.eigh(covariance)  # ascending
    order = variances.argsort(descending=True)
    return BlockPCA(mean=mean.float(), basis=vectors[:, order].float().contiguous(),
                    variances=variances[order].float())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m autoencoder fit-pca", description=__doc__)
    p.add_argument("--data", required=True, help="folder of training images (never the evaluation set)")
    p.add_argument("--val-every", type=int, default=12, help="hold out the same images as training")
    p.add_argument("--out", type=Path, help="weights folder (default: runs/block-pca/; the shipped weights/ only when named)")
    args = p.parse_args(argv)
    out = args.out or Path("runs") / "block-pca"
    out.mkdir(parents=True, exist_ok=True)
    train_files, _ = split_train_val(list_images(args.data), args.val_every)
    pca = fit_full_resolution([decode_image(f) for f in train_files])
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
