"""The other uses of an autoencoder, beside compression: denoising, anomaly scores and latent
interpolation. Images are RGB uint8 arrays (H, W, 3), as everywhere in the app; σ is in pixel
values 0…1 (σ = 0.1 is 25.5 of 255).

* Denoising: a conv model fine-tuned on noisy inputs with clean targets (`train
  --noise-sigma`, configs/denoise-c32.json) against a classical denoiser at the same noise:
  scikit-image's wavelet shrinkage (BayesShrink, noise level estimated from the image).
* Anomaly score: a model trained on photos reconstructs photos well and what it never saw
  badly, so the reconstruction error is a score. The score is the mean squared error of the
  worst SCORE_WINDOW² window, since a small defect barely moves the whole image's mean.
  (Chosen on a generated set of 128² crops of another seed than the one reported: AUC 0.88
  there, against 0.76 for the whole-image mean and for the worst window over the median
  window.) A larger image has more windows and so a worse worst one by chance: the
  threshold holds at the benchmark's size, and the app scores at most that size.
  `anomaly_benchmark` measures the ROC AUC on a generated set (gallery crops, half with a
  synthetic defect).
* Latent interpolation: decode (1 − t)·z_a + t·z_b, beside the pixel cross-fade
  (1 − t)·a + t·b, and how far the decoded blend is from the blend of the two
  reconstructions (how far from linear the decoder is).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from .data import center_square, decode_image, gallery_names, list_images, load_gallery_image, to_tensor, to_uint8
from .models import crop_to
from .pipeline import padded_for, reconstruct, score
from .pretrained import load_pretrained, update_model_entry

DENOISER = "denoise-c32"  # the shipped denoiser (configs/denoise-c32.json)
ANOMALY_MODEL = "conv-c8"  # the model whose error is the anomaly score (the AUC below is measured on it)
SCORE_WINDOW = 16  # pixels: side of the windows the error is averaged over
DEFECTS = ("text", "noise patch", "scratch")
BENCHMARK_CROP = 256  # side of the generated set's images, and the longest side the app scores at (the threshold holds there)
BENCHMARK_FILE = "anomaly-benchmark.json"


def add_noise(x: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x (B, 3, H, W) in [0, 1] plus Gaussian noise of standard deviation `sigma` (a float, or
    one per image as (B, 1, 1, 1)), clipped to [0, 1] as a camera would store it."""
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)  # one stream on any device
    return (x + sigma * noise).clamp(0, 1)


# ---------------------------------------------------------------------------------------
# Denoising

@dataclass
class Denoised:
    sigma: float
    noisy: np.ndarray  # uint8 (H, W, 3): the clean image plus seeded Gaussian noise, clipped
    denoised: np.ndarray  # the model's output for the noisy image
    classical: np.ndarray  # wavelet shrinkage of the noisy image
    psnr: dict[str, float]  # "noisy", "denoised", "classical": each against the clean image


def wavelet_denoise(noisy: np.ndarray) -> np.ndarray:
    """The classical baseline: scikit-image's BayesShrink wavelet denoiser (soft thresholds per
    sub-band, noise σ estimated from the image itself: it is not told σ), in YCbCr."""
    from skimage.restoration import denoise_wavelet

    out = denoise_wavelet(noisy.astype(np.float64) / 255, channel_axis=-1, convert2ycbcr=True,
                          method="BayesShrink", mode="soft", rescale_sigma=True)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def denoise(model: nn.Module, image: np.ndarray, sigma: float, seed: int = 0) -> Denoised:
    """Add seeded Gaussian noise of `sigma` to `image`, then denoise it with `model` and with
    the wavelet baseline; PSNR of all three against the clean image."""
    clean = to_tensor(image)
    noisy = to_uint8(add_noise(clean, sigma, torch.Generator().manual_seed(seed)))  # stored as 8 bits, like a photo
    denoised = to_uint8(reconstruct(model, to_tensor(noisy)))
    classical = wavelet_denoise(noisy)
    return Denoised(sigma, noisy, denoised, classical,
                    {name: score(image, out, full=False)["psnr"]
                     for name, out in (("noisy", noisy), ("denoised", denoised), ("classical", classical))})


def denoise_folder(model: nn.Module, folder: str, sigma: float) -> dict:
    """Mean PSNR of noisy, denoised and wavelet-denoised images over every image in `folder`
    (noise seeded per image: the same noise for both denoisers)."""
    files = list_images(folder)
    rows = [denoise(model, decode_image(f), sigma, seed=i).psnr for i, f in enumerate(files)]
    return {"images": len(files), "sigma": sigma,
            **{f"psnr_{k}": round(float(np.mean([r[k] for r in rows])), 3) for k in ("noisy", "denoised", "classical")}}


# ---------------------------------------------------------------------------------------
# Anomaly score

@dataclass
class Anomaly:
    score: float  # mean squared error of the worst SCORE_WINDOW² window (pixels in 0…1)
    window_error: np.ndarray  # float (H, W): squared error (mean over RGB) averaged over the window around each pixel


def anomaly(model: nn.Module, image: np.ndarray) -> Anomaly:
    """`image` through `model` (float latent); its error map and anomaly score."""
    x = to_tensor(image)
    reconstruction = reconstruct(model, x)
    error = ((reconstruction - x) ** 2).mean(dim=1, keepdim=True)  # (1, 1, H, W)
    k = min(SCORE_WINDOW, *image.shape[:2])
    windows = F.avg_pool2d(F.pad(error, (k // 2, (k - 1) // 2, k // 2, (k - 1) // 2), mode="replicate"), k, stride=1)
    return Anomaly(float(windows.max()), windows[0, 0].numpy())


def _contrasting(image: np.ndarray, region: tuple[int, int, int, int], bright: tuple, dark: tuple) -> tuple:
    """`bright` where the image under region (left, top, right, bottom) is dark, else `dark`: a
    defect drawn in the colour of its background would be no defect at all."""
    left, top, right, bottom = region
    patch = image[max(0, top) : max(top + 1, bottom), max(0, left) : max(left + 1, right)].astype(float)
    return bright if patch.mean() < 128 else dark


def add_defect(image: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A copy of `image` with one synthetic defect at a seeded random place, always in a colour
    that stands out from what it covers: 'text' (a four-letter word, 1/8 of the shorter side
    tall, white on dark ground, black on bright), 'noise patch' (a square of random pixels, 1/8
    of the shorter side) or 'scratch' (a line 20–40 % of the shorter side long and at least
    2 px wide, wholly inside the image, bright on dark ground, dark on bright)."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    out = image.copy()
    if kind == "noise patch":
        side = max(4, min(h, w) // 8)
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        out[top : top + side, left : left + side] = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        return out
    picture = Image.fromarray(out)
    draw = ImageDraw.Draw(picture)
    if kind == "text":
        size = max(8, min(h, w) // 8)
        font = ImageFont.load_default(size=size)
        word = "".join(rng.choice(list("ABCDEFGHKMNPRSTWXYZ"), 4))
        x, y = int(rng.integers(0, max(1, w - 3 * size))), int(rng.integers(0, max(1, h - size)))
        box = draw.textbbox((x, y), word, font=font)
        draw.text((x, y), word, fill=_contrasting(image, box, (255, 255, 255), (0, 0, 0)), font=font)
    elif kind == "scratch":
        length, angle = min(h, w) * rng.uniform(0.2, 0.4), rng.uniform(0, np.pi)
        dx, dy = length * np.cos(angle), length * np.sin(angle)
        x0 = rng.uniform(max(0, -dx), min(w - 1, w - 1 - dx))
        y0 = rng.uniform(0, h - 1 - dy)
        ends = [(int(round(x0)), int(round(y0))), (int(round(x0 + dx)), int(round(y0 + dy)))]
        region = (min(e[0] for e in ends), min(e[1] for e in ends), max(e[0] for e in ends) + 1, max(e[1] for e in ends) + 1)
        draw.line(ends, fill=_contrasting(image, region, (255, 255, 240), (20, 20, 20)), width=max(2, min(h, w) // 128))
    else:
        raise ValueError(f"unknown defect {kind!r}; known: {', '.join(DEFECTS)}")
    return np.asarray(picture).copy()


def roc_auc(normal: list[float], anomalous: list[float]) -> float:
    """The probability that a random anomalous score is above a random normal one (ties count
    half): the area under the ROC curve, from the Mann–Whitney U statistic."""
    a, n = np.asarray(anomalous, float)[:, None], np.asarray(normal, float)[None, :]
    return float(((a > n).sum() + 0.5 * (a == n).sum()) / (a.size * n.size))


def benchmark_set(count: int, seed: int, side: int = BENCHMARK_CROP) -> tuple[list[np.ndarray], list[tuple[str, np.ndarray]]]:
    """The generated set: `count` normal crops and `count` crops with a defect (kinds in turn),
    side×side, from the gallery photos (scikit-image's, on every machine; not the training
    photos, not Kodak). Normal and defective crops are different crops."""
    rng = np.random.default_rng(seed)
    photos = [load_gallery_image(name) for name in gallery_names()]

    def crop() -> np.ndarray:
        photo = photos[rng.integers(len(photos))]
        top, left = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        return np.ascontiguousarray(photo[top : top + side, left : left + side])

    normal = [crop() for _ in range(count)]
    defective = [(DEFECTS[i % len(DEFECTS)], add_defect(crop(), DEFECTS[i % len(DEFECTS)], seed * 100_003 + i))
                 for i in range(count)]
    return normal, defective


def anomaly_benchmark(model: nn.Module, count: int = 150, seed: int = 1, side: int = BENCHMARK_CROP) -> dict:
    """ROC AUC of the anomaly score on benchmark_set(count, seed, side): overall and per defect
    kind, and the score that separates the two sets best (the app's threshold, at BENCHMARK_CROP)."""
    normal, defective = benchmark_set(count, seed, side)
    normal_scores = [anomaly(model, image).score for image in normal]
    scores = [(kind, anomaly(model, image).score) for kind, image in defective]
    every = sorted(normal_scores + [s for _, s in scores])
    accuracy = [(np.mean([s < t for s in normal_scores]) + np.mean([s >= t for _, s in scores])) / 2 for t in every]
    return {
        "count": count, "seed": seed, "crop": side, "window": SCORE_WINDOW,
        "auc": round(roc_auc(normal_scores, [s for _, s in scores]), 4),
        "auc_by_defect": {k: round(roc_auc(normal_scores, [s for d, s in scores if d == k]), 4) for k in DEFECTS},
        "threshold": float(f"{every[int(np.argmax(accuracy))]:.4g}"),
        "balanced_accuracy": round(float(max(accuracy)), 4),
    }


# ---------------------------------------------------------------------------------------
# Latent interpolation

@dataclass
class Interpolation:
    t: list[float]  # blend weights, 0 (image a) … 1 (image b)
    latent_path: list[np.ndarray]  # uint8 frames decoded from (1 − t)·z_a + t·z_b
    cross_fade: list[np.ndarray]  # uint8 frames (1 − t)·a + t·b, in pixels
    psnr_to_linear: list[float]  # latent path against (1 − t)·x̂_a + t·x̂_b at each t: ∞ for a linear decoder


def same_size(a: np.ndarray, b: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Both images as side×side centre squares: a latent blend needs latents of one shape."""
    return center_square(a, side), center_square(b, side)


@torch.no_grad()
def interpolate(model: nn.Module, a: np.ndarray, b: np.ndarray, steps: int = 7) -> Interpolation:
    """`steps` frames from a to b (same shape, uint8) through the latent space of `model` (the
    float latent; a codec model's transform without rounding), and the pixel cross-fade."""
    if a.shape != b.shape:
        raise ValueError(f"interpolate needs two images of one size, got {a.shape} and {b.shape}: use same_size")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends), got {steps}")
    h, w = a.shape[:2]
    xa, xb = to_tensor(a), to_tensor(b)
    za, zb = model.encode(padded_for(model, xa)), model.encode(padded_for(model, xb))
    t = torch.linspace(0, 1, steps)

    def decoded(z: torch.Tensor) -> torch.Tensor:
        return crop_to(model.decode(z), h, w).clamp(0, 1)

    ra, rb = decoded(za), decoded(zb)
    latent_path = [to_uint8(decoded((1 - s) * za + s * zb)) for s in t]
    cross_fade = [to_uint8((1 - s) * xa + s * xb) for s in t]
    linear = [to_uint8((1 - s) * ra + s * rb) for s in t]
    return Interpolation([round(float(s), 4) for s in t], latent_path, cross_fade,
                         [score(p, q, full=False)["psnr"] for p, q in zip(latent_path, linear)])


# ---------------------------------------------------------------------------------------
# CLI

def _read(source: str) -> np.ndarray:
    """An image file, or the name of a gallery photo ('Astronaut', 'Coffee', …: on every machine)."""
    return load_gallery_image(source) if source in gallery_names() else decode_image(Path(source))


def _save(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).save(path)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> dict:
    """python -m autoencoder uses {denoise, denoise-eval, anomaly, anomaly-benchmark, interpolate} …"""
    p = argparse.ArgumentParser(prog="python -m autoencoder uses", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="use", required=True)
    d = sub.add_parser("denoise", help="noise an image, denoise it with the model and with wavelets, compare")
    d.add_argument("image", help="an image file or a gallery photo's name")
    d.add_argument("--sigma", type=float, default=25, help="noise σ in 0…255 pixel units (default 25)")
    d.add_argument("--model", default=DENOISER)
    d.add_argument("--out", type=Path, help="folder for noisy/denoised/classical PNGs")
    e = sub.add_parser("denoise-eval", help="mean PSNR of the denoiser and the wavelet baseline over a folder")
    e.add_argument("--data", required=True, help="folder of clean images (Kodak: evaluation only)")
    e.add_argument("--sigma", type=float, default=25, help="noise σ in 0…255 pixel units (default 25)")
    e.add_argument("--model", default=DENOISER)
    e.add_argument("--update-manifest", action="store_true", help="record the result in the model's manifest entry")
    a = sub.add_parser("anomaly", help="anomaly score and error map of an image (optionally with a defect added)")
    a.add_argument("image", help="an image file or a gallery photo's name")
    a.add_argument("--defect", choices=DEFECTS)
    a.add_argument("--model", default=ANOMALY_MODEL)
    a.add_argument("--out", type=Path, help="folder for the (defective) image and its error map")
    bench = sub.add_parser("anomaly-benchmark", help="ROC AUC of the anomaly score on a generated set")
    bench.add_argument("--count", type=int, default=150, help="normal and defective images each")
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--model", default=ANOMALY_MODEL)
    bench.add_argument("--json", type=Path, help=f"write the result here (the app reads weights/{BENCHMARK_FILE})")
    i = sub.add_parser("interpolate", help="frames from one image to another through the latent space")
    i.add_argument("a", help="an image file or a gallery photo's name")
    i.add_argument("b")
    i.add_argument("--steps", type=int, default=7)
    i.add_argument("--side", type=int, default=256, help="both images as centre squares of this side")
    i.add_argument("--model", default="conv-c16")
    i.add_argument("--out", type=Path, required=True, help="PNG file: the latent path above the cross-fade")
    args = p.parse_args(argv)
    model = load_pretrained(args.model)
    if args.use == "denoise":
        result = denoise(model, _read(args.image), args.sigma / 255)
        print(f"σ = {args.sigma:g}/255: noisy {result.psnr['noisy']:.2f} dB, {args.model} {result.psnr['denoised']:.2f} dB, "
              f"wavelet {result.psnr['classical']:.2f} dB (PSNR against the clean image)")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            for name in ("noisy", "denoised", "classical"):
                _save(getattr(result, name), args.out / f"{Path(args.image).stem}_{name}.png")
        return result.psnr
    if args.use == "denoise-eval":
        result = {**denoise_folder(model, args.data, args.sigma / 255), "data": args.data,
                  "command": "python -m autoencoder uses " + " ".join(argv if argv is not None else [])}
        print(json.dumps(result, indent=2))
        if args.update_manifest:
            update_model_entry(args.model, {f"denoising_{Path(args.data).name}_sigma{args.sigma:g}": result})
        return result
    if args.use == "anomaly":
        image = _read(args.image)
        if args.defect:
            image = add_defect(image, args.defect)
        result = anomaly(model, image)
        print(f"anomaly score {result.score:.5f} ({args.model}: mean squared error of the worst {SCORE_WINDOW}² window)")
        if args.out:
            from .views import anomaly_image  # here: views imports report, which imports this module

            args.out.mkdir(parents=True, exist_ok=True)
            stem = Path(args.image).stem
            _save(image, args.out / f"{stem}_input.png")
            _save(anomaly_image(result.window_error), args.out / f"{stem}_error.png")
        return {"score": result.score}
    if args.use == "anomaly-benchmark":
        result = {"model": args.model, **anomaly_benchmark(model, args.count, args.seed),
                  "command": "python -m autoencoder uses " + " ".join(argv if argv is not None else [])}
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return result
    a_img, b_img = same_size(_read(args.a), _read(args.b), args.side)
    result = interpolate(model, a_img, b_img, args.steps)
    _save(np.concatenate([np.concatenate(result.latent_path, 1), np.concatenate(result.cross_fade, 1)], 0), args.out)
    print("PSNR of the decoded blend against the blend of the two reconstructions at t = " + ", ".join(
        f"{t:g}: {p:.1f} dB" for t, p in zip(result.t, result.psnr_to_linear)))
    return {"t": result.t, "psnr_to_linear": result.psnr_to_linear}
