"""`python -m tools.context_gain` (from the repository root): what an entropy model alone buys.

Two codec models over the same transform (codec-c16-hp, and codec-c16-cb fine-tuned from it
with the transform and gains frozen: same pixels for the same latent) write real .aez files of
every image at a few quantization steps Δ. For each model and step: mean bits per pixel of the
files and mean PSNR of what they decode to (8-bit, as `eval` scores); then the BD-rate of each
model's mini-curve against each one before it (metrics.bd_rate: negative = fewer bits at equal PSNR),
and the decoding time of one file at Δ = 1 with 2 threads and with 1 (best of --repeats).

    python -m tools.context_gain --data ../shared/data/kodak
    python -m tools.context_gain --data ../shared/data/kodak --images 6 --json context.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from autoencoder import codec, metrics
from autoencoder.data import decode_image, list_images, to_tensor, to_uint8
from autoencoder.hardware import cpu_name


def curve(model_id: str, images: list[np.ndarray], steps: list[float]) -> list[dict]:
    """One point per step: {"step", "bpp", "psnr"}, means over the images of each real file's bits per
    pixel and of the PSNR of its decoded 8-bit image."""
    model, sha = codec.load_codec(model_id)
    rows = {step: [] for step in steps}
    for image in images:
        x = to_tensor(image)
        encoding = codec.Encoding(model, x, model_id, sha)  # one encoder pass for every step
        for step in steps:
            result = encoding.compressed(step)
            decoded = to_tensor(to_uint8(result.image))
            rows[step].append((metrics.bits_per_pixel(len(result.data), *image.shape[:2]),
                               float(metrics.psnr(decoded, x))))
    return [{"step": step, "bpp": float(np.mean([r[0] for r in rows[step]])),
             "psnr": float(np.mean([r[1] for r in rows[step]]))} for step in steps]


def decode_seconds(model_id: str, image: np.ndarray, threads: int, repeats: int) -> float:
    """Best of `repeats` wall times of codec.decompress on the image's file at Δ = 1, with `threads` torch threads."""
    model, sha = codec.load_codec(model_id)
    data = codec.compress(model, to_tensor(image), model_id, sha).data
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            codec.decompress(data, load=lambda _: (model, sha))
            times.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)
    return min(times)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m tools.context_gain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["codec-c16-hp", "codec-c16-cb"],
                   help="codec model ids; each is the anchor of the BD-rates of those after it")
    p.add_argument("--data", required=True, help="folder of evaluation images (Kodak)")
    p.add_argument("--images", type=int, help="the first N images only (default: all)")
    p.add_argument("--steps", type=float, nargs="+", default=[0.8, 1.0, 1.25], help="quantization steps Δ")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the curves")
    p.add_argument("--repeats", type=int, default=3, help="decodings timed per thread count (best is kept)")
    p.add_argument("--json", type=Path, help="also write the results here (refused if it exists)")
    args = p.parse_args(argv)
    files = list_images(args.data)[: args.images] if Path(args.data).is_dir() else []
    if not files:
        print(f"--data {args.data}: no images there", file=sys.stderr)
        raise SystemExit(2)
    if args.json and args.json.exists():
        print(f"--json {args.json}: exists; remove it first", file=sys.stderr)
        raise SystemExit(2)
    torch.set_num_threads(args.threads)
    images = [decode_image(f) for f in files]
    results = {"cpu": cpu_name(), "torch": torch.__version__, "images": len(images), "data": args.data,
               "first_image": files[0].name, "models": {}}
    print(f"{cpu_name()}, torch {torch.__version__}, {len(images)} images from {args.data}, curves at {args.threads} thread(s)")
    for model_id in args.models:
        started = time.perf_counter()
        points = curve(model_id, images, args.steps)
        seconds = {f"decode_s_{t}_threads": decode_seconds(model_id, images[0], t, args.repeats) for t in (2, 1)}
        results["models"][model_id] = {"points": points, **seconds}
        for q in points:
            print(f"{model_id}  Δ={q['step']:<5g} {q['bpp']:.4f} bpp  {q['psnr']:.3f} dB")
        print(f"{model_id}  decode {files[0].name} at Δ=1: {seconds['decode_s_2_threads']:.3f} s (2 threads), "
              f"{seconds['decode_s_1_threads']:.3f} s (1 thread); curve took {time.perf_counter() - started:.0f} s")
    for i, anchor_id in enumerate(args.models):
        anchor = [(q["bpp"], q["psnr"]) for q in results["models"][anchor_id]["points"]]
        for model_id in args.models[i + 1 :]:
            bd = metrics.bd_rate([(q["bpp"], q["psnr"]) for q in results["models"][model_id]["points"]], anchor)
            results["models"][model_id]["bd_rate_vs_" + anchor_id] = bd
            print(f"BD-rate of {model_id} against {anchor_id}: " + ("no common PSNR range" if bd is None else f"{bd:+.2f} %"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
