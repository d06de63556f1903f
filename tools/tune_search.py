"""What a latent-search schedule (autoencoder/search.py) buys on a few images: real bytes and PSNR
of the .aez file against the encoder's own latent, at each model's trained step and λ.

    python -m tools.tune_search --images 001 017 033 --crop 256 --models codec-c16-hp codec-c32-hp-lo \\
        --schedule 150:0.01:0.05 300:0.01:0.05 10:0.02:0.05

A schedule is STEPS:LEARNING_RATE:END_TEMPERATURE (τ from 0.5). One line per model, image and
schedule: Δ bits and Δ PSNR of the file, Δ of train.py's loss (λ·255²·MSE + bpp, from the file's
bytes and decoded pixels) and seconds per search step; then each schedule's mean Δ loss. Tune on
training photos (the default folder); Kodak is for measuring a chosen schedule only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from autoencoder import metrics, search
from autoencoder.codec import Encoding
from autoencoder.data import decode_image, to_tensor, to_uint8
from autoencoder.manifest import model_info
from autoencoder.pretrained import load_pretrained

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "photos"


def schedule(text: str) -> search.Schedule:
    try:
        steps, rate, end = text.split(":")
        return search.Schedule(int(steps), float(rate), end_temperature=float(end))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not STEPS:LEARNING_RATE:END_TEMPERATURE") from None


def centre(image: np.ndarray, side: int) -> np.ndarray:
    """The centre side×side crop (the whole image for side 0)."""
    if not side:
        return image
    h, w = image.shape[:2]
    return image[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]


def file_scores(enc: Encoding, x: torch.Tensor, lmbda: float) -> tuple[float, float, float]:
    """(bpp of the file, PSNR of what it decodes to, λ·255²·MSE + bpp)."""
    result = enc.compressed()
    decoded = to_tensor(to_uint8(result.image))
    bpp = 8 * len(result.data) / x[0, 0].numel()
    return bpp, float(metrics.psnr(decoded, x)), lmbda * 255**2 * float(metrics.mse(decoded, x)) + bpp


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=PHOTOS, help="folder of images (default: the training photos)")
    p.add_argument("--images", nargs="+", required=True, help="image names in --data, without .png")
    p.add_argument("--crop", type=int, default=256, help="centre crop side in pixels (0: the whole image)")
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--schedule", nargs="+", type=schedule, required=True, help="STEPS:LEARNING_RATE:END_TEMPERATURE")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    changes = {s: [] for s in args.schedule}
    for model_id in args.models:
        model, info = load_pretrained(model_id), model_info(model_id)
        for name in args.images:
            x = to_tensor(centre(decode_image(args.data / f"{name}.png"), args.crop))
            bpp0, psnr0, loss0 = file_scores(Encoding(model, x, model_id, info.sha256), x, info.lmbda)
            for s in args.schedule:
                started = time.perf_counter()
                u = search.search_latent(model, x, info.lmbda, schedule=s)
                seconds = time.perf_counter() - started
                bpp, psnr, loss = file_scores(Encoding(model, x, model_id, info.sha256, latent=u), x, info.lmbda)
                changes[s].append(100 * (loss / loss0 - 1))
                print(f"{model_id} {name} {s.steps}:{s.learning_rate:g}:{s.end_temperature:g}  bits {100 * (bpp / bpp0 - 1):+.2f} %  "
                      f"PSNR {psnr - psnr0:+.3f} dB  loss {changes[s][-1]:+.2f} %  {seconds / s.steps:.3f} s/step", flush=True)
    for s, values in changes.items():
        print(f"{s.steps}:{s.learning_rate:g}:{s.end_temperature:g}  mean loss change {np.mean(values):+.2f} % "
              f"over {len(values)} runs")


if __name__ == "__main__":
    main()
