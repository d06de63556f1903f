"""Running a model on an image: padding, encoding, 8-bit latents, decoding, cropping back."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .latent import QuantizedLatent, dequantize, quantize
from .models import crop_to, pad_to_multiple


@dataclass
class Roundtrip:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1], the input's size
    latent: torch.Tensor  # float latent as the decoder received it: (1, C, h, w) or (1, D)
    quantized: QuantizedLatent | None  # the 8-bit code, when bits were asked for


def _prepare(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if model.any_size:
        return pad_to_multiple(x, model.downsampling_factor)
    return x  # dense models check their own input size and refuse anything but 64×64


@torch.no_grad()
def reconstruct(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x: RGB (B, 3, H, W) in [0, 1] → reconstruction of the same shape, clamped to [0, 1].

    Any H, W for conv models (edge-padded to multiples of 8 inside, cropped back); exactly
    64×64 for dense models (ValueError otherwise). The latent is kept in float.
    """
    h, w = x.shape[-2:]
    return crop_to(model.decode(model.encode(_prepare(model, x))), h, w).clamp(0, 1)


@torch.no_grad()
def roundtrip(model: nn.Module, x: torch.Tensor, bits: int | None = 8) -> Roundtrip:
    """One image (B = 1) through the model with its latent rounded to `bits` (None: float)."""
    h, w = x.shape[-2:]
    z = model.encode(_prepare(model, x))
    q = None
    if bits is not None:
        q = quantize(z, bits)
        z = dequantize(q).to(z.device)
    return Roundtrip(image=crop_to(model.decode(z), h, w).clamp(0, 1), latent=z, quantized=q)
