"""Running a model on an image: the one protocol the app, `eval` and `bench` share.

    decode (data.py) → analyse(): pad or tile, encode, round the latent to 8 bits (or write
    the codec's .aez file), decode, crop back → scores (metrics.py) → views → app

`analyse` takes an image as the app and eval hold it (uint8 (H, W, 3)) and returns an
`Analysis`: the reconstruction, the latent, the real bytes and the scores. Under it, on
tensors: `reconstruct` (float latent), `roundtrip` (8-bit or float latent, optionally
refined) and `refine_latent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import metrics
from .codec import Compressed, compress
from .data import tiles, to_tensor, to_uint8
from .latent import QuantizedLatent, dequantize, quantize
from .models import crop_to, pad_to_multiple

TILE = 64  # dense models code an image as whole 64×64 tiles; eval crops every image to whole tiles


@dataclass
class Roundtrip:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1], the input's size
    latent: torch.Tensor  # float latent as the decoder received it: (1, C, h, w) or (1, D)
    quantized: QuantizedLatent | None  # the 8-bit code, when bits were asked for


def padded_for(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x (B, 3, H, W) as the model takes it: conv and codec models edge-padded to multiples of 8."""
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
    return crop_to(model.decode(model.encode(padded_for(model, x))), h, w).clamp(0, 1)


REFINE_LR = 1e-3  # Adam step on latent values; on held-out training crops 50 steps got 95 % of 300 steps' gain


def refine_latent(model: nn.Module, x: torch.Tensor, z: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` Adam updates of the latent z that lower the MSE of the decoded image against x
    (RGB (B, 3, H, W) in [0, 1]), with the decoder fixed; returns the new latent, same shape.

    The encoder is a fast one-pass guess at the best code for its decoder; descending on the
    latent itself finds a better code of the same size, at the cost of `steps` decode +
    backward passes. The model is not changed (its parameters need no gradient: loaded models
    have requires_grad off, and only z is differentiated).
    """
    h, w = x.shape[-2:]
    z = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=REFINE_LR)
    with torch.enable_grad():
        for _ in range(steps):
            loss = metrics.mse(crop_to(model.decode(z), h, w), x).mean()  # padding is not scored
            (z.grad,) = torch.autograd.grad(loss, z)
            optimizer.step()
    return z.detach()


@torch.no_grad()
def roundtrip(model: nn.Module, x: torch.Tensor, bits: int | None = 8, refine_steps: int = 0) -> Roundtrip:
    """One image (B = 1) through the model with its latent rounded to `bits` (None: float),
    after `refine_steps` steps of `refine_latent` (0: the encoder's latent as it is)."""
    h, w = x.shape[-2:]
    z = model.encode(padded_for(model, x))
    if refine_steps:
        z = refine_latent(model, x, z, refine_steps)
    q = None
    if bits is not None:
        q = quantize(z, bits)
        z = dequantize(q).to(z.device)
    return Roundtrip(image=crop_to(model.decode(z), h, w).clamp(0, 1), latent=z, quantized=q)


# ---------------------------------------------------------------------------------------
# One model on one image (uint8 arrays): what the app shows, eval scores and bench times.

def crop_to_tiles(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) → its top-left part made of whole TILE×TILE tiles."""
    h, w = image.shape[:2]
    return image[: h - h % TILE, : w - w % TILE]


def _stitch(tile_batch: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of data.tiles: (N, 3, 64, 64) row-major → (1, 3, height, width)."""
    rows, cols = height // TILE, width // TILE
    x = tile_batch.reshape(rows, cols, 3, TILE, TILE).permute(2, 0, 3, 1, 4)
    return x.reshape(1, 3, height, width)


@dataclass
class Analysis:
    model_id: str
    original: np.ndarray  # uint8 (H, W, 3): the model's input
    reconstruction: np.ndarray  # uint8 (H, W, 3): decoded from the 8-bit latent (codec: from the .aez file)
    latent: np.ndarray  # float32, what the decoder received: (C, h, w); dense (D,), or (N, D) for N tiles
    num_bytes: int  # the real size: 8-bit codes with their ranges, or the whole .aez file
    scores: dict  # metrics.quality of the reconstruction: mse, psnr, ssim, ms_ssim (None if too small or not asked)
    quantized: QuantizedLatent | None = None  # the 8-bit code of a single latent (conv; dense on one 64×64 image)
    file: bytes | None = None  # codec models: the .aez file the reconstruction was decoded from
    bits_map: np.ndarray | None = None  # codec models: float (H, W), bits spent on each pixel
    estimated_bits: float | None = None  # codec models: what the entropy model predicts for the file's symbols
    float_reconstruction: np.ndarray | None = None  # uint8, from the unrounded latent (when asked for)
    refined_reconstruction: np.ndarray | None = None  # uint8, from the refined float latent (when asked for)

    @property
    def bits_per_pixel(self) -> float:
        return metrics.bits_per_pixel(self.num_bytes, *self.original.shape[:2])

    @property
    def ratio(self) -> float:
        """Input values per latent value for this image (padding to multiples of 8 included)."""
        return self.original.size / self.latent.size

    def numbers(self) -> dict[str, float | None]:
        """Everything the metric tiles show, as plain numbers (what deltas are taken between)."""
        return {**self.scores, "ratio": self.ratio, "bytes": self.num_bytes, "bpp": self.bits_per_pixel}


def score(original: np.ndarray, reconstruction: np.ndarray, full: bool = True) -> dict:
    """metrics.quality of two uint8 images; full=False: MSE and PSNR only (SSIM and MS-SSIM
    None), for charts of many points where SSIM would cost seconds."""
    x, y = to_tensor(original), to_tensor(reconstruction)
    if full:
        return metrics.quality(x, y)
    return {"mse": float(metrics.mse(x, y)), "psnr": float(metrics.psnr(x, y)), "ssim": None, "ms_ssim": None}


def file_analysis(model_id: str, image: np.ndarray, result: Compressed, full_scores: bool = True) -> Analysis:
    """A codec file of `image` (uint8 (H, W, 3)), as codec.compress or rate.compress_to made it,
    as an Analysis: what the file decodes to, its latent, bits map and scores."""
    reconstruction = to_uint8(result.image)
    return Analysis(model_id, image, reconstruction, result.latent.numpy(), len(result.data),
                    score(image, reconstruction, full_scores), file=result.data,
                    bits_map=result.bits_map.numpy(), estimated_bits=result.estimated_bits)


@torch.no_grad()
def analyse(model: nn.Module, model_id: str, image: np.ndarray, *, full_scores: bool = True,
            float_latent: bool = False, refine_steps: int = 0) -> Analysis:
    """Run `model` (eval mode, not modified) on `image`, uint8 (H, W, 3).

    conv: the whole image, latent rounded to 8 bits (per channel). dense: exactly 64×64, or
    any image of whole 64×64 tiles coded one by one (each tile its own 8-bit range; bytes
    summed). codec: the real .aez file, and what that file decodes to (compress returns the
    decoder's own computation on the same symbols, which tests check against decompress); a codec
    model comes from load_pretrained, whose checked sha256 (model.weights_sha256) the header names.
    float_latent / refine_steps (not codec): also decode the unrounded latent / the latent
    after that many refinement steps, as eval reports them.
    """
    if model.entropy_coded:  # the sha256 load_pretrained checked, not whatever the manifest says now
        return file_analysis(model_id, image, compress(model, to_tensor(image), model_id, model.weights_sha256),
                             full_scores)
    h, w = image.shape[:2]
    tiled = not model.any_size and (h, w) != (TILE, TILE)
    if tiled and (h % TILE or w % TILE):
        raise ValueError(f"dense models take whole {TILE}×{TILE} tiles, got {w}×{h}: crop with crop_to_tiles")
    x = tiles(image, TILE) if tiled else to_tensor(image)  # (N, 3, 64, 64) or (1, 3, H, W)

    def whole(batch: torch.Tensor) -> np.ndarray:
        return to_uint8(_stitch(batch, h, w) if tiled else batch)

    trips = [roundtrip(model, part[None], bits=8) for part in x]
    reconstruction = whole(torch.cat([t.image for t in trips]))
    latent = torch.cat([t.latent for t in trips]).float().cpu().numpy()
    return Analysis(
        model_id, image, reconstruction, latent if tiled else latent[0],
        num_bytes=sum(t.quantized.num_bytes for t in trips),
        scores=score(image, reconstruction, full_scores),
        quantized=None if tiled else trips[0].quantized,
        float_reconstruction=whole(reconstruct(model, x)) if float_latent else None,
        refined_reconstruction=whole(roundtrip(model, x, bits=None, refine_steps=refine_steps).image)
        if refine_steps else None,
    )
