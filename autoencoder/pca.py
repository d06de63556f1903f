"""Block-PCA: the optimal linear transform of 8×8×3 blocks. Two uses: the starting point of
every conv model's linear path, and the baseline a conv model must beat at the same C."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .data import RandomCrops, to_tensor
from .models import ConvAutoencoder, ConvConfig

BLOCK = ConvAutoencoder.downsampling_factor


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
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
                  metadata={"info": json.dumps(metadata or {})})

    @classmethod
    def load(cls, path: str | Path) -> "BlockPCA":
        t = load_file(str(path))
        return cls(mean=t["mean"], basis=t["basis"], variances=t["variances"])


def fit_block_pca(images: list[np.ndarray], scales: tuple[float, ...], crops: int = 4096,
                  crop: int = 64, seed: int = 0) -> BlockPCA:
    """The conv models' starting point: fit on the 8×8 blocks of `crops` seeded random crops
    (crop×crop, multi-scale, flipped), the distribution the models then train on."""
    x = RandomCrops(images, crop, scales, seed).sample(crops)  # (N, 3, crop, crop)
    blocks = _blocks(x)
    mean = blocks.mean(0)
    centred = blocks - mean
    return _sorted_eigenbasis(mean, centred.T @ centred / (len(blocks) - 1))


def fit_block_pca_full_resolution(images: list[np.ndarray]) -> BlockPCA:
    """The baseline: fit on every 8×8 block of the images as they are (the block grid from the
    top-left corner, no resampling, no augmentation): the best linear block code for photos at
    the resolution they are evaluated at. Its last components hold full-resolution fine detail
    that downscaled crops lack, so at large C it is the stronger, fairer baseline (README)."""
    total, outer, count = torch.zeros(3 * BLOCK * BLOCK, dtype=torch.float64), 0.0, 0
    for image in images:
        h, w = (image.shape[0] // BLOCK) * BLOCK, (image.shape[1] // BLOCK) * BLOCK
        blocks = _blocks(to_tensor(image[:h, :w]))
        total, outer, count = total + blocks.sum(0), outer + blocks.T @ blocks, count + len(blocks)
    mean = total / count  # one pass over the images: the covariance from the sums of blocks and of their outer products
    return _sorted_eigenbasis(mean, (outer - count * torch.outer(mean, mean)) / (count - 1))


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W), H and W multiples of 8 → every block as a row: (N·H/8·W/8, 192) float64."""
    return F.pixel_unshuffle(x, BLOCK).permute(0, 2, 3, 1).reshape(-1, 3 * BLOCK * BLOCK).double()


def _sorted_eigenbasis(mean: torch.Tensor, covariance: torch.Tensor) -> BlockPCA:
    """mean (192,) and covariance (192, 192), float64 → components by decreasing variance."""
    variances, vectors = torch.linalg.eigh(covariance)  # ascending
    order = variances.argsort(descending=True)
    return BlockPCA(mean=mean.float(), basis=vectors[:, order].float().contiguous(),
                    variances=variances[order].float())
