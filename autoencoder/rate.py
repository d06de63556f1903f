"""A codec file at the size or quality asked for: a model of the ladder and a quantization step.

    from autoencoder import rate
    choice = rate.compress_to(image, target_bytes=30_000)   # or bpp=0.5, or quality=60
    choice.model_id, choice.step, choice.data, choice.image   # the .aez file and what it decodes to
    choice.note                                               # a sentence when the target cannot be met

`image` is RGB: uint8 (H, W, 3), or float in [0, 1] as (H, W, 3) numpy or (1, 3, H, W) / (3, H, W)
torch. The shipped models were trained at one rate each; between them (and a little beyond
the ends) a file codes the latent with a step Δ ≠ 1 (codec.py), Δ > 1 for fewer bytes.

* target_bytes / bpp: the file is at most the target (never above it; when even the smallest
  file is above, `note` says so and the smallest file comes back). Each ladder model's file at
  Δ = 1 brackets the target between two neighbours; the step that fits is bisected on the real
  bytes for the upper one (Δ ≥ 1) and the lower one (Δ ≤ 1), and of the two files the one that
  decodes closer to the image (PSNR) is kept. One encoder pass per model tried: the bytes at
  another step cost only rounding and range coding (codec.Encoding).
* quality: 0…100, like a JPEG quality, picks a model and step from the number alone (the same
  for every image): a position along the ladder in log bits per pixel (the models' Kodak
  rates from the manifest), from the smallest model at Δ = 2 (quality 0) to the largest at
  Δ = 1/2 (quality 100), each point coded by the nearest model with the Δ that moves its rate
  to that point (RATE_ELASTICITY): steps within about 0.8…1.25 between the ends.
* effort: "default" codes the encoder's latent; "max" searches the latent (search.py) once,
  for the model and step chosen as above, not inside the bisection. The searched latent
  codes in fewer bytes, so for a size target the step is bisected again on it (never above
  the target), and the file that decodes best of the plain one and the searched ones is kept;
  for a quality, the searched latent is coded at the same model and step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from . import aez, metrics, search
from .codec import CodecAutoencoder, Compressed, Encoding, load_codec
from .data import to_tensor, to_uint8
from .manifest import ModelEntry, list_models, model_info, superseded
from .models import on_rate_ladder

# How a file's bits respond to the step: d ln(bytes) / d ln(1/Δ), measured on centre crops of
# two training photos over the ladder for Δ in 0.5…2 (0.69…1.24, mean 0.9). Used only to
# place quality's steps; the size targets measure the real bytes.
RATE_ELASTICITY = 0.9
QUALITY_STEPS = (2.0, 0.5)  # quality 0: the smallest model at Δ = 2; quality 100: the largest at Δ = 1/2
NOMINAL_RUNG = 1.5  # the rate ratio between neighbouring models when the manifest has no Kodak rates
FIT = 0.998  # the bisection stops once a file is within 0.2 % under the target


@dataclass
class Choice:
    model_id: str
    step: float  # the quantization step Δ the file codes with (1: the trained model)
    data: bytes  # the .aez file
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]: what the file decodes to
    compressed: Compressed  # everything codec.compress reports (bits map, latent, estimate)
    target_bytes: int | None  # what was asked for (None: a quality)
    note: str | None = None  # one sentence when the target could not be met


def ladder(models: list[str] | None = None) -> list[str]:
    """The codec models rate control picks from, in increasing rate (their Kodak bpp, else λ):
    those that code at any step (models.on_rate_ladder), less any another of `models` refines
    (manifest.superseded). `models` restricts it; ValueError when it holds no such model."""
    ids = models if models is not None else list_models()
    rungs = ladder_entries(model_info(i) for i in ids)
    if not rungs:
        raise ValueError("rate control needs a codec model that codes at any quantization step; "
                         f"{', '.join(ids) or 'none is installed'} has none")
    return [e.id for e in rungs]


def ladder_entries(entries: Iterable[ModelEntry]) -> list[ModelEntry]:
    """ladder() for manifest entries in hand: the rungs among `entries`, in increasing rate (none: [])."""
    entries = list(entries)
    gone = superseded(entries)
    rungs = [e for e in entries if e.kind.entropy_coded and on_rate_ladder(e.prior) and e.id not in gone]
    return sorted(rungs, key=lambda e: (e.reference_rate or 0, e.lmbda))


def as_tensor(image) -> torch.Tensor:
    """The input contract: RGB uint8 (H, W, 3), or float in [0, 1] as (H, W, 3) numpy or
    (1, 3, H, W) / (3, H, W) torch → float (1, 3, H, W) in [0, 1]."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
        if image.dtype == np.uint8:
            return to_tensor(image)
        image = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise ValueError("expected RGB uint8 (H, W, 3) or float in [0, 1] (numpy (H, W, 3) or torch (1, 3, H, W))")
    x = image[None] if image.ndim == 3 else image
    if x.ndim != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"expected a float image (1, 3, H, W) or (3, H, W), got {tuple(image.shape)}")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("a float image must hold values in [0, 1]")
    return x.float()


def quality_setting(quality: float, models: list[str]) -> tuple[str, float]:
    """quality 0…100 → (model id, step), the same for every image (module docstring)."""
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be in 0…100, got {quality:g}")
    rates = [model_info(m).reference_rate for m in models]
    if all(rates):
        positions = [math.log(r) for r in rates]
    else:
        positions = [i * math.log(NOMINAL_RUNG) for i in range(len(models))]
    low = positions[0] - RATE_ELASTICITY * math.log(QUALITY_STEPS[0])
    high = positions[-1] - RATE_ELASTICITY * math.log(QUALITY_STEPS[1])
    target = low + (high - low) * quality / 100
    i = min(range(len(positions)), key=lambda k: abs(positions[k] - target))
    step = math.exp((positions[i] - target) / RATE_ELASTICITY)
    return models[i], aez.step_value(aez.step_code(min(max(step, QUALITY_STEPS[1]), QUALITY_STEPS[0])))


def _finest_fit(enc: Encoding, target: int, lo: int, hi: int) -> tuple[int, int] | None:
    """The finest step code in lo…hi (codes: Δ · STEP_ONE) whose file fits in `target` bytes, and
    its size, by bisection on the real bytes (a file shrinks as the step grows); None if even
    hi's does not fit."""
    sizes: dict[int, int] = {}

    def size(code: int) -> int:
        if code not in sizes:
            sizes[code] = len(enc.file(aez.step_value(code)))
        return sizes[code]

    if size(hi) > target:
        return None
    if size(lo) <= target:
        return lo, size(lo)
    while hi - lo > 1 and size(hi) < FIT * target:  # size(lo) > target ≥ size(hi)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if size(mid) <= target else (mid, hi)
    return hi, size(hi)


def compress_to(image, *, target_bytes: int | None = None, bpp: float | None = None, quality: float | None = None,
                models: list[str] | None = None,
                load: Callable[[str], tuple[CodecAutoencoder, str]] = load_codec, effort: str = "default",
                progress: Callable[[int], None] | None = None) -> Choice:
    """A codec file of `image` at target_bytes (at most), bpp (bits per pixel, at most) or quality
    (0…100): exactly one of them. models: restrict the ladder (default: every codec model
    installed; ladder() picks the rungs); load: model id → (model, weights sha256), e.g. a cache; effort: a key of
    search.EFFORTS (module docstring), progress(k) called after each search step. Input
    contract: as_tensor. ValueError for a bad input, target or effort."""
    if effort not in search.EFFORTS:
        raise ValueError(f"effort must be one of {', '.join(search.EFFORTS)}, got {effort!r}")
    plain = _plain_choice(image, target_bytes, bpp, quality, models, load)
    if search.EFFORTS[effort] is None:
        return plain
    x = as_tensor(image)
    model, sha = load(plain.model_id)
    enc = search.encoding(model, x, plain.model_id, sha, model_info(plain.model_id).lmbda, plain.step, effort,
                          progress)
    code = aez.step_code(plain.step)
    searched = _choice(enc, code, plain.target_bytes)
    if plain.target_bytes is None:
        return searched
    if plain.note:  # the target is out of the ladder's reach: the same step, in fewer bytes if the search found them
        searched.note = f"{plain.note}; with the latent searched, {len(searched.data):,} bytes"
        return searched if len(searched.data) <= len(plain.data) else plain
    # fewer bytes at the same step leave room for a finer one (and more bytes need a coarser one)
    fit = _finest_fit(enc, plain.target_bytes, *(aez.step_code(s) for s in aez.STEP_RANGE))
    refilled = [_choice(enc, fit[0], plain.target_bytes)] if fit and fit[0] != code else []
    return _best_decoded([c for c in (plain, searched, *refilled) if len(c.data) <= plain.target_bytes], x)


def _choice(enc: Encoding, code: int, target: int | None) -> Choice:
    result = enc.compressed(aez.step_value(code))
    return Choice(enc.model_id, result.step, result.data, result.image, result, target)


def _best_decoded(made: list[Choice], x: torch.Tensor) -> Choice:
    """Of files that all meet the target, the one that decodes closest to x (PSNR)."""
    return max(made, key=lambda c: float(metrics.psnr(to_tensor(to_uint8(c.image)), x)))


def _plain_choice(image, target_bytes: int | None, bpp: float | None, quality: float | None, models: list[str] | None,
                  load: Callable[[str], tuple[CodecAutoencoder, str]]) -> Choice:
    """compress_to at the default effort: the encoder's latent, the model and step searched."""
    if sum(v is not None for v in (target_bytes, bpp, quality)) != 1:
        raise ValueError("give exactly one of target_bytes, bpp and quality")
    x = as_tensor(image)
    rungs = ladder(models)
    loaded: dict[str, tuple[CodecAutoencoder, str]] = {}

    def encoding(model_id: str) -> Encoding:
        if model_id not in loaded:
            loaded[model_id] = load(model_id)
        model, sha = loaded[model_id]
        return Encoding(model, x, model_id, sha)

    if quality is not None:
        model_id, step = quality_setting(quality, rungs)
        return _choice(encoding(model_id), aez.step_code(step), None)
    pixels = x.shape[-2] * x.shape[-1]
    if bpp is not None:
        if not bpp > 0:
            raise ValueError(f"bits per pixel must be positive, got {bpp:g}")
        target_bytes = int(bpp * pixels / 8)
    if target_bytes is None or target_bytes <= 0:
        raise ValueError(f"the target size must be a positive number of bytes, got {target_bytes}")
    one = aez.STEP_ONE
    finest, coarsest = (aez.step_code(s) for s in aez.STEP_RANGE)
    below = above = None  # (encoding, its bytes at Δ = 1) of the neighbours around the target
    for model_id in rungs:
        enc = encoding(model_id)
        size = len(enc.file(1.0))
        if size >= target_bytes:
            above = enc
            break
        below = enc
    candidates = []
    if above is not None and (fit := _finest_fit(above, target_bytes, one, coarsest)):
        candidates.append((above, fit[0]))
    if below is not None and (fit := _finest_fit(below, target_bytes, finest, one)):
        candidates.append((below, fit[0]))
    if not candidates:  # below the smallest model at its coarsest step
        smallest = _choice(above, coarsest, target_bytes)
        smallest.note = (f"{target_bytes:,} bytes is below the smallest file the codec makes of this image "
                         f"({len(smallest.data):,} bytes, {rungs[0]} at step {aez.STEP_RANGE[1]:g}); "
                         "that file is written")
        return smallest
    best = _best_decoded([_choice(enc, code, target_bytes) for enc, code in candidates], x)
    if above is None and len(best.data) < 0.97 * target_bytes:
        best.note = (f"{target_bytes:,} bytes is above the largest file the codec makes of this image; "
                     f"this one has {len(best.data):,} bytes ({rungs[-1]} at step {best.step:g})")
    return best


_UNITS = {"": 1, "B": 1, "KB": 1000, "K": 1000, "KIB": 1024, "MB": 1000**2, "M": 1000**2, "MIB": 1024**2}


def parse_size(text: str) -> int:
    """'30KB' → 30000, '30KiB' → 30720, '1.5MB', '4096' (bytes): the --size argument."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).upper() if match else None
    if unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size: write bytes (4096) or 30KB, 30KiB, 1.5MB")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{text!r} is not a positive size")
    return size
