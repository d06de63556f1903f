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

from .data import RandomCrops
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
    """Fit on the 8×8 blocks of `crops` seeded random crops (crop×crop, multi-scale, flipped)."""
    x = RandomCrops(images, crop, scales, seed).sample(crops)  # (N, 3, crop, crop)
    blocks = F.pixel_unshuffle(x, BLOCK).permute(0, 2, 3, 1).reshape(-1, 3 * BLOCK * BLOCK).double()
    mean = blocks.mean(0)
    centred = blocks - mean
    covariance = centred.T @ centred / (len(blocks) - 1)  # (192, 192)
    variances, vectors = torch.linalg.eigh(covariance)  # ascending
    order = variances.argsort(descending=True)
    return BlockPCA(mean=mean.float(), basis=vectors[:, order].float().contiguous(),
                    variances=variances[order].float())
