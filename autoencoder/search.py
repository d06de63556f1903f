"""Encoder-side latent search: which integers to write for one image, with the decoder fixed.

    enc = encoding(model, x, "codec-c16-hp", sha256, lmbda=0.003, effort="max")  # x: RGB (1, 3, H, W) in [0, 1]
    enc.compressed(1.0)       # a codec.Encoding of the searched latent: codec.py codes it as usual

The encoder network's latent u is a good guess, not the best one: the decoder and the entropy
model are fixed, so the latent that minimizes this image's real loss, λ·255²·MSE + bits per
pixel (train.py's), can be searched for directly. Rounding has no useful gradient, so the
search uses *stochastic Gumbel annealing* (SGA; Yang, Bamler & Mandt 2020, "Improving
inference for neural image compression"): each value is replaced by a random soft mix of its
floor and ceiling, weighted by how close it is to each (atanh of the distance over a
temperature τ), and τ is annealed so that the mix ends as hard rounding. Adam moves u against
the loss of that soft-rounded latent: the rate of the hyperprior's Gaussians (their means and
scales computed from the soft-rounded hyper-latent of u, as the encoder will), and the
distortion of the fixed decoder.

Only the encoder changes: the file holds integers as before, decoded by the unchanged decoder
bit-exactly (codec.py). The search checks the hard-rounded loss every CHECK_EVERY steps and
returns the best latent it saw, the encoder's own among them, so it never does worse than
plain rounding on the loss it optimizes (the model's likelihood estimate of the bits, within
0.4 % of the real bytes). Deterministic on one machine and thread count: the Gumbel noise
comes from a seeded generator.

Efforts (`EFFORTS`): "default" codes the encoder's latent (no search); "max" runs
MAX_STEPS steps of SGA (docs/codec.md gives the measured gains and times).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .codec import Encoding
from .models import CodecAutoencoder, crop_to, pad_to_multiple


@dataclass(frozen=True)
class Schedule:
    """How a search runs: Adam's learning rate (in quantization steps) and the temperature τ,
    annealed geometrically from start_temperature to end_temperature over the steps (so a
    schedule has the same shape at any number of steps)."""
    steps: int
    learning_rate: float = 0.01
    start_temperature: float = 0.5
    end_temperature: float = 0.05

    def temperature(self, step: int) -> float:
        fraction = step / max(self.steps - 1, 1)
        return self.start_temperature * (self.end_temperature / self.start_temperature) ** fraction


MAX_STEPS = 150
EFFORTS: dict[str, Schedule | None] = {"default": None, "max": Schedule(MAX_STEPS)}  # None: no search
CHECK_EVERY = 10  # steps between evaluations of the hard-rounded loss
SEED = 0


def sga_round(v: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Stochastic Gumbel annealing's soft rounding of v (any shape): floor(v) + w, w in (0, 1)
    a Gumbel-softmax sample between floor and ceiling whose logits are −atanh(distance)/τ. As
    τ → 0 it tends to round(v); differentiable in v."""
    floor = torch.floor(v)
    below = (v - floor).clamp(1e-5, 1 - 1e-5)  # distance to the floor, in (0, 1)
    logits = torch.stack([-torch.atanh(below), -torch.atanh(1 - below)]) / temperature
    gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator).clamp_min(1e-20)))
    weights = F.softmax((logits + gumbel) / temperature, dim=0)
    return floor + weights[1]


def rd_loss(model: CodecAutoencoder, x: torch.Tensor, u: torch.Tensor, lmbda: float, step: float = 1.0,
            rounding: Callable[[torch.Tensor], torch.Tensor] = torch.round) -> torch.Tensor:
    """λ·255²·MSE + bits per pixel of coding latent u (1, C, h, w) for image x (RGB (1, 3, H, W)
    in [0, 1]), at quantization step Δ = step: train.py's loss, with `rounding` (default: hard,
    what the file codes)."""
    bits, latent = model.rounded_bits(u, step, rounding)
    height, width = x.shape[-2:]
    mse = F.mse_loss(crop_to(model.decode(latent), height, width), x)
    return lmbda * 255**2 * mse + bits / (height * width)


def effective_lmbda(lmbda: float, step: float) -> float:
    """The λ a file at step Δ trades at: a model trained at λ quantizes at a step ∝ 1/√λ
    (train.quantization_step), so coding it at Δ stands for λ/Δ²."""
    return lmbda / step**2


def search_latent(model: CodecAutoencoder, x: torch.Tensor, lmbda: float, step: float = 1.0,
                  schedule: Schedule = EFFORTS["max"], seed: int = SEED,
                  progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """x: RGB (1, 3, H, W) in [0, 1]; lmbda: the model's own λ (manifest `lmbda`); step: the
    quantization step the file will code at (the loss uses effective_lmbda). → the latent u
    (C, h, w) to code (codec.Encoding(..., latent=u)): the one with the lowest hard-rounded
    rd_loss among the encoder's and those checked along the search. progress(k) is called
    after each step (k steps done)."""
    lmbda = effective_lmbda(lmbda, step)
    padded = pad_to_multiple(x, model.downsampling_factor)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        start = model.encode(padded).float()  # (1, C, h, w)
        best, best_loss = start.clone(), float(rd_loss(model, x, start, lmbda, step))
    u = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([u], lr=schedule.learning_rate)
    for k in range(schedule.steps):
        soft = functools.partial(sga_round, temperature=schedule.temperature(k), generator=generator)
        loss = rd_loss(model, x, u, lmbda, step, soft)
        (u.grad,) = torch.autograd.grad(loss, [u])  # the model's weights get no gradient
        optimizer.step()
        if (k + 1) % CHECK_EVERY == 0 or k + 1 == schedule.steps:
            with torch.no_grad():
                hard = float(rd_loss(model, x, u, lmbda, step))
            if hard < best_loss:
                best, best_loss = u.detach().clone(), hard
        if progress is not None:
            progress(k + 1)
    return best[0]


def encoding(model: CodecAutoencoder, x: torch.Tensor, model_id: str, weights_sha256: str, lmbda: float,
             step: float = 1.0, effort: str = "default", progress: Callable[[int], None] | None = None) -> Encoding:
    """The codec.Encoding of image x (RGB (1, 3, H, W) in [0, 1]) at `effort` (a key of EFFORTS):
    of the encoder's latent, or of the one search_latent finds for the file at `step`."""
    schedule = EFFORTS[effort]
    latent = None if schedule is None else search_latent(model, x, lmbda, step, schedule, progress=progress)
    return Encoding(model, x, model_id, weights_sha256, latent=latent)
