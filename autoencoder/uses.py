"""The other uses of an autoencoder, beside compression: denoising, anomaly scores and latent
interpolation. Images are RGB uint8 arrays (H, W, 3), as everywhere in the app; σ is in pixel
values 0…1 (σ = 0.1 is 25.5 of 255).

* Denoising: a conv model fine-tuned on noisy inputs with clean targets (`train
  --noise-sigma`, configs/denoise-c32.json) against a classical denoiser at the same noise:
  scikit-image's wavelet shrinkage (BayesShrink, noise level estimated from the image).
* Anomaly score: a model trained on photos rebuilds photos well and what it never learned to
  draw badly, so a window it rebuilds badly may be a defect. Its plain error is large on busy
  texture too (leaves, hair, stars), which made clean photos look anomalous; so each window's
  mean squared error is divided by the mean error of its CONTEXT² surroundings plus
  ERROR_FLOOR (smooth ground divides by the floor), at two window sides (4² finds thin
  scratches, 16² words and patches), and the score is the image's worst window. Chosen on
  45 trained-on training photos × 8 views (crops of 35–100 %, at most 256 px; one defect of
  each kind per view; never Kodak). ROC AUC, then the share of defects found at 5 % false
  alarms (text / noise patch / scratch):
      plain error of the worst 16² window (the old score)     0.820   0.13 / 1.00 / 0.05
      plain error of the worst 4² window                      0.876   0.35 / 1.00 / 0.29
      worst 16² window over the median 16² window             0.720   0.10 / 0.29 / 0.07
      16² window over its own pixel variance + 0.001          0.758   0.35 / 0.06 / 0.18
      16² window over the median of its 96² surroundings      0.878   0.44 / 0.97 / 0.11
      16² window over the mean of its 96² surroundings        0.897   0.63 / 1.00 / 0.24
      4² and 16² windows over their surroundings (chosen)     0.915   0.55 / 1.00 / 0.51
  (With the first, fainter defects: a z-score of the worst window's log error against the
  image's other windows 0.66; conv-c8's error over conv-c64's 0.62.) `anomaly_benchmark`
  sets the verdict's two thresholds on clean views of the training photos at the app's size
  for stated rates, then judges a folder never used to set anything (Kodak), and writes
  weights/anomaly-benchmark.json; `judge` gives the app its verdict (normal, unsure or
  anomalous) with the numbers behind it.
* Latent interpolation: decode (1 − t)·z_a + t·z_b, beside the pixel cross-fade
  (1 − t)·a + t·b, and how far the decoded blend is from the blend of the two
  reconstructions (how far from linear the decoder is).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from .data import (center_square, decode_image, gallery_names, limit_size, list_images, load_gallery_image, to_tensor,
                   to_uint8)
from .hardware import cpu_name
from .models import crop_to
from .pipeline import padded_for, reconstruct, score
from .manifest import dataset_problem, update_entry, weights_dir
from .pretrained import load_pretrained

DENOISER = "denoise-c32"  # the shipped denoiser (configs/denoise-c32.json)
ANOMALY_MODEL = "conv-c8"  # the model whose error is the anomaly score (the AUC below is measured on it)
SCORE_WINDOW = 16  # pixels: side of the windows of Anomaly.window_error (the plain error map)
SCORE_WINDOWS = (4, 16)  # pixels: window sides of the score (a thin scratch shows in 4², a patch or a word in 16²)
CONTEXT = 96  # pixels: side of the surroundings whose error each window's error is divided by
ERROR_FLOOR = 0.01  # squared error (RMS 25 of 255) added to the surroundings' error: smooth ground divides by it
WINDOW_SCALE = {4: 5.0, 16: 2.0}  # about each side's 95th percentile on clean training-photo views: both weigh alike
DEFECTS = ("text", "noise patch", "scratch")
SCORE_SIDE = 256  # pixels: images are scored at most this size on the longest side (the thresholds are set there)
SCORE_NAME = (f"relative-error/windows={','.join(map(str, SCORE_WINDOWS))}/context={CONTEXT}/floor={ERROR_FLOOR:g}"
              f"/scale={','.join(f'{v:g}' for v in WINDOW_SCALE.values())}")  # a calibration holds for this score only
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
    score: float  # score_map's maximum: the anomaly score
    score_map: np.ndarray  # float (H, W): each window's error relative to its surroundings' (relative_error)
    window_error: np.ndarray  # float (H, W): squared error (mean over RGB) averaged over the SCORE_WINDOW² window around each pixel
    worst: tuple[int, int]  # (row, column) of the score: the centre of the worst window


def box_mean(values: np.ndarray, side: int) -> np.ndarray:
    """The mean of `values` (H, W) over the side×side window around each pixel (edges repeated
    outwards; side at most the image's shorter side), from a summed-area table: its cost does
    not grow with the side."""
    side = max(1, min(side, *values.shape))
    padded = np.pad(values.astype(np.float64), ((side // 2, (side - 1) // 2),) * 2, mode="edge")
    sums = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (sums[side:, side:] - sums[:-side, side:] - sums[side:, :-side] + sums[:-side, :-side]) / side**2


def relative_error(error: np.ndarray) -> np.ndarray:
    """The score map of a squared-error map (H, W): for each window side k in SCORE_WINDOWS, the
    window's mean error over the mean of those window errors in the CONTEXT² surroundings plus
    ERROR_FLOOR, divided by WINDOW_SCALE[k]; the larger of the two at each pixel."""
    maps = []
    for side in SCORE_WINDOWS:
        window = box_mean(error, side)
        maps.append(window / (box_mean(window, CONTEXT) + ERROR_FLOOR) / WINDOW_SCALE[side])
    return np.maximum.reduce(maps)


@torch.no_grad()
def anomaly(model: nn.Module, image: np.ndarray) -> Anomaly:
    """`image` (uint8 (H, W, 3), as it is: see `judge` for the app's size) through `model` (float
    latent); its score map and anomaly score."""
    x = to_tensor(image)
    error = ((reconstruct(model, x) - x) ** 2).mean(dim=1)[0].double().numpy()
    score_map = relative_error(error)
    worst = np.unravel_index(int(np.argmax(score_map)), score_map.shape)
    return Anomaly(float(score_map[worst]), score_map.astype(np.float32),
                   box_mean(error, SCORE_WINDOW).astype(np.float32), (int(worst[0]), int(worst[1])))


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


def app_view(image: np.ndarray, side: int = SCORE_SIDE) -> np.ndarray:
    """The image as the app scores it: at most `side` px on the longest side (Lanczos, aspect kept)."""
    return limit_size(image, side)[0]


def calibration_views(photo: np.ndarray, count: int, rng: np.random.Generator, side: int = SCORE_SIDE) -> list[np.ndarray]:
    """`count` views of a photo as the app would score them: the whole photo, then random crops
    of most of it (70–100 % of its shorter side, aspect 1:1, 3:2, 2:3, 4:3 or 3:4), each at most
    `side` px. Not smaller crops: the app scores whole photos, and a small crop scaled to `side`
    has less detail per pixel and scores lower (on the training photos the median clean score
    falls from 0.78 whole to 0.61 for crops of 35 % of each side)."""
    h, w = photo.shape[:2]
    views = [app_view(photo, side)]
    for _ in range(count - 1):
        aspect = float(rng.choice([1.0, 3 / 2, 2 / 3, 4 / 3, 3 / 4]))
        crop_h = int(min(h, rng.uniform(0.7, 1.0) * min(h, w) / np.sqrt(aspect)))
        crop_w = int(min(w, crop_h * aspect))
        top, left = rng.integers(0, h - crop_h + 1), rng.integers(0, w - crop_w + 1)
        views.append(app_view(np.ascontiguousarray(photo[top : top + crop_h, left : left + crop_w]), side))
    return views


def _seed(*numbers: int) -> int:
    """One defect seed per tuple of numbers (photo, view, kind …), with no collisions between tuples."""
    return int(np.random.default_rng(list(numbers)).integers(2**31))


def _shares(scores: list[float], normal_up_to: float, anomalous_above: float) -> dict:
    s = np.asarray(scores, float)
    return {"count": int(s.size), "anomalous": round(float(np.mean(s > anomalous_above)), 4),
            "unsure": round(float(np.mean((s > normal_up_to) & (s <= anomalous_above))), 4),
            "normal": round(float(np.mean(s <= normal_up_to)), 4)}


def anomaly_benchmark(model: nn.Module, data: str | Path, views: int = 8, seed: int = 1, false_alarm: float = 0.05,
                      unsure: float = 0.15, evaluate: str | Path | None = None, eval_seeds: int = 4,
                      side: int = SCORE_SIDE) -> dict:
    """Calibrate the verdict on clean photos and measure it.

    Every photo in `data` gives `views` clean views at the app's size (calibration_views), each
    also scored with every defect. The thresholds come from the clean views alone: at most
    `false_alarm` of them score above `anomalous_above`, at most `false_alarm` + `unsure` above
    `normal_up_to`. Reported there: ROC AUC and the share of defective views detected (above
    `anomalous_above`), unsure and missed, per defect kind. `evaluate` (a folder never used to
    set anything, e.g. Kodak) is then judged at those thresholds: each photo whole at the app's
    size, clean and with each defect at `eval_seeds` seeds."""
    started = time.perf_counter()
    clean, defective = [], {k: [] for k in DEFECTS}
    files = list_images(data)
    for i, path in enumerate(files):
        for v, view in enumerate(calibration_views(decode_image(path), views, np.random.default_rng([seed, i]), side)):
            clean.append(anomaly(model, view).score)
            for j, kind in enumerate(DEFECTS):
                defective[kind].append(anomaly(model, add_defect(view, kind, _seed(seed, i, v, j))).score)
    ordered = np.sort(clean)
    anomalous_above = float(ordered[int(np.ceil((1 - false_alarm) * len(ordered))) - 1])
    normal_up_to = float(ordered[int(np.ceil((1 - false_alarm - unsure) * len(ordered))) - 1])
    result = {
        "score": SCORE_NAME, "windows": list(SCORE_WINDOWS), "context": CONTEXT, "error_floor": ERROR_FLOOR,
        "window_scale": {str(k): v for k, v in WINDOW_SCALE.items()}, "side": side,
        "data": f"{data} ({len(files)} photos × {views} views: the whole photo and random crops, each at most "
                f"{side} px on the longest side)",
        "views": views, "seed": seed, "false_alarm_rate": false_alarm, "unsure_rate": unsure,
        "normal_up_to": float(f"{normal_up_to:.4g}"), "anomalous_above": float(f"{anomalous_above:.4g}"),
        "calibration": {
            "clean": _shares(clean, normal_up_to, anomalous_above),
            "by_defect": {k: {"auc": round(roc_auc(clean, defective[k]), 4),
                              **_shares(defective[k], normal_up_to, anomalous_above)} for k in DEFECTS},
        },
    }
    if evaluate is not None:
        verdicts, by_defect = {}, {k: [] for k in DEFECTS}
        for i, path in enumerate(list_images(evaluate)):
            image = app_view(decode_image(path), side)
            verdicts[path.name] = round(anomaly(model, image).score, 4)
            for j, kind in enumerate(DEFECTS):
                by_defect[kind] += [anomaly(model, add_defect(image, kind, _seed(i, j, s))).score
                                    for s in range(eval_seeds)]
        scores = list(verdicts.values())
        result["evaluation"] = {
            "data": f"{evaluate} ({len(scores)} photos, whole, each at most {side} px; defects at {eval_seeds} seeds each)",
            "clean": {**_shares(scores, normal_up_to, anomalous_above),
                      "anomalous_photos": [n for n, s in verdicts.items() if s > anomalous_above],
                      "unsure_photos": [n for n, s in verdicts.items() if normal_up_to < s <= anomalous_above]},
            "by_defect": {k: _shares(v, normal_up_to, anomalous_above) for k, v in by_defect.items()},
        }
    result["machine"] = f"{cpu_name()}, {os.cpu_count()} cores, torch on {torch.get_num_threads()} thread(s)"
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


VERDICTS = ("normal", "unsure", "anomalous")


@dataclass
class Calibration:
    """What `anomaly_benchmark` set (weights/anomaly-benchmark.json): the verdict's two thresholds
    and the rates behind them."""
    model: str
    normal_up_to: float  # a score at most this is "normal"
    anomalous_above: float  # a score above this is "anomalous"; between the two, "unsure"
    false_alarm_rate: float  # share of clean calibration views above anomalous_above
    unsure_rate: float  # share of clean calibration views between the two
    side: int  # the longest side the thresholds hold at (the image is scored at most this size)
    benchmark: dict = field(repr=False)  # everything the benchmark stored, for the tab's caption

    def verdict(self, score: float) -> str:
        return "anomalous" if score > self.anomalous_above else "unsure" if score > self.normal_up_to else "normal"


def load_calibration(model_id: str = ANOMALY_MODEL, folder: Path | None = None) -> Calibration | None:
    """weights/anomaly-benchmark.json as a Calibration if it is `model_id`'s and of the current
    score; None if absent, unreadable, another model's or another score's (its thresholds would not hold)."""
    try:
        stored = json.loads(((folder or weights_dir()) / BENCHMARK_FILE).read_text())
        if stored.get("model") != model_id or stored.get("score") != SCORE_NAME:
            return None
        return Calibration(model_id, float(stored["normal_up_to"]), float(stored["anomalous_above"]),
                           float(stored["false_alarm_rate"]), float(stored["unsure_rate"]), int(stored["side"]), stored)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass
class Verdict:
    verdict: str  # one of VERDICTS
    anomaly: Anomaly  # the score, its map and where its worst window is
    image: np.ndarray  # uint8 (H, W, 3): the image scored (at most calibration.side px, with the defect if asked)
    calibration: Calibration

    @property
    def score(self) -> float:
        return self.anomaly.score

    def headline(self) -> str:
        c, s = self.calibration, self.anomaly.score
        return {"normal": f"Looks normal: score {s:.2f}, at most {c.normal_up_to:.2f}",
                "unsure": f"Unsure: score {s:.2f}, between {c.normal_up_to:.2f} and {c.anomalous_above:.2f}",
                "anomalous": f"Looks anomalous: score {s:.2f}, above {c.anomalous_above:.2f}"}[self.verdict]

    def explanation(self) -> str:
        c = self.calibration
        normal_share = 100 * (1 - c.false_alarm_rate - c.unsure_rate)
        row, column = self.anomaly.worst
        return {"normal": f"{normal_share:.0f} % of clean photos score this low or lower: nothing here stands out "
                          "from its surroundings.",
                "unsure": f"Higher than {normal_share:.0f} % of clean photos score, but not above the line only "
                          f"{100 * c.false_alarm_rate:.0f} % of them cross: busy clean photos and faint defects both "
                          "land here, so the score cannot tell them apart.",
                "anomalous": f"Only {100 * c.false_alarm_rate:.0f} % of clean photos score this high. The worst window, "
                             f"around row {row}, column {column}, is rebuilt far worse than its surroundings; small "
                             "sharp detail the model never learned to draw (a pearl necklace, an eye) can score as "
                             "high as a defect, so look there."}[self.verdict]


def judge(model: nn.Module, image: np.ndarray, calibration: Calibration, defect: str | None = None,
          seed: int = 0) -> Verdict:
    """The tab's verdict: `image` at the calibration's size (app_view), with `defect` added there if
    asked (add_defect, `seed`), scored by `model` (the calibration's) and judged by its thresholds."""
    scored = app_view(image, calibration.side)
    if defect:
        scored = add_defect(scored, defect, seed)
    result = anomaly(model, scored)
    return Verdict(calibration.verdict(result.score), result, scored, calibration)


def map_image(score_map: np.ndarray, top: float) -> np.ndarray:
    """A score map (Anomaly.score_map) as a grey picture (uint8 RGB), white from `top` up."""
    grey = np.round(np.clip(score_map / max(top, 1e-12), 0, 1) * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


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
    a = sub.add_parser("anomaly", help="the Find defects verdict on an image (optionally with a defect added)")
    a.add_argument("image", help="an image file or a gallery photo's name")
    a.add_argument("--defect", choices=DEFECTS)
    a.add_argument("--seed", type=int, default=0, help="where the defect goes")
    a.add_argument("--model", default=ANOMALY_MODEL)
    a.add_argument("--out", type=Path, help="folder for the image scored and its score map")
    bench = sub.add_parser("anomaly-benchmark", help="set the verdict's thresholds on clean photos, then measure them")
    bench.add_argument("--data", required=True, help="folder of clean photos to calibrate on (the training photos; never Kodak)")
    bench.add_argument("--views", type=int, default=8, help="views per photo: the whole photo and random crops")
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--false-alarm", type=float, default=0.05, help="share of clean views called anomalous")
    bench.add_argument("--unsure", type=float, default=0.15, help="further share of clean views called unsure")
    bench.add_argument("--eval", type=Path, dest="evaluate", help="folder judged at those thresholds (e.g. Kodak)")
    bench.add_argument("--eval-seeds", type=int, default=4, help="defects per kind and evaluation photo")
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
    if args.use == "denoise-eval" and args.update_manifest and (problem := dataset_problem(Path(args.data).name)):
        e.error(problem)  # before the folder is scored, not after
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
            update_entry(args.model, lambda entry: entry.scored(Path(args.data).name, denoising={f"{args.sigma:g}": result}))
        return result
    if args.use == "anomaly":
        calibration = load_calibration(args.model)
        image = _read(args.image)
        if calibration:
            result = judge(model, image, calibration, args.defect, args.seed)
            scored, found = result.image, result.anomaly
            print(f"{result.headline()}. {result.explanation()}")
        else:  # no thresholds for this model: the score alone, at the app's size
            scored = app_view(image)
            scored = add_defect(scored, args.defect, args.seed) if args.defect else scored
            found = anomaly(model, scored)
            print(f"anomaly score {found.score:.2f} ({args.model} has no calibration in weights/{BENCHMARK_FILE})")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            stem = Path(args.image).stem
            _save(scored, args.out / f"{stem}_input.png")
            _save(map_image(found.score_map, calibration.anomalous_above if calibration else found.score),
                  args.out / f"{stem}_map.png")
        return {"score": found.score, "verdict": result.verdict if calibration else None}
    if args.use == "anomaly-benchmark":
        result = {"model": args.model,
                  **anomaly_benchmark(model, args.data, args.views, args.seed, args.false_alarm, args.unsure,
                                      args.evaluate, args.eval_seeds),
                  "command": "python -m autoencoder uses " + " ".join(argv if argv is not None else [])}
        print(json.dumps(result, indent=2, ensure_ascii=False))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        return result
    a_img, b_img = same_size(_read(args.a), _read(args.b), args.side)
    result = interpolate(model, a_img, b_img, args.steps)
    _save(np.concatenate([np.concatenate(result.latent_path, 1), np.concatenate(result.cross_fade, 1)], 0), args.out)
    print("PSNR of the decoded blend against the blend of the two reconstructions at t = " + ", ".join(
        f"{t:g}: {p:.1f} dB" for t, p in zip(result.t, result.psnr_to_linear)))
    return {"t": result.t, "psnr_to_linear": result.psnr_to_linear}
