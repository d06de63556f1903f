"""The other uses of an autoencoder, beside compression: denoising, anomaly scores and latent
interpolation.
"""

from __future__ import annotations

import torch


def add_noise(x: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x (B, 3, H, W) in [0, 1] plus Gaussian noise of standard deviation `sigma` (a float, or
    one per image as (B, 1, 1, 1)), clipped to [0, 1] as a camera would store it."""
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)  # one stream on any device
    return (x + sigma * noise).clamp(0, 1)
