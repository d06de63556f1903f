"""`python -m autoencoder bench`: speed and memory of every shipped model on this machine.

Speed targets live here, not in unit tests (a loaded CI machine would make timed tests
flaky). With --check the command exits 1 when a target is missed:
  * a conv model analyses a 1024×1024 image within TARGET_1024_S (pipeline.analyse, as the
    app and eval run it: 8-bit latent, uint8 in and out, MSE and PSNR; SSIM left out);
  * a dense model analyses a 64×64 image within TARGET_64_S;
  * a codec model decodes an .aez file of a Kodak-sized photo (768×512) within
    TARGET_CODEC_DECODE_S (the table also shows the encode time, the decode time on one
    thread beside Cool-chic 4.2's published one-core figure, and a Pillow JPEG round trip of
    the same photo, quality 75, for scale);
  * each of Pillow's codecs (baselines.CODECS: JPEG, WebP, AVIF, JPEG XL, at their stated
    settings) encodes and decodes the same photo at its best quality within 1 bpp (no target:
    what the learned codec is up against);
  * the whole process stays under TARGET_RSS_MB of resident memory.

The app's own speed (script run by script run) is a developer tool beside it: `python -m tools.bench_app`.

With --training it times instead one training step of every config in configs/, the way
train_all.sh and train_codecs.sh train (one CPU thread per model, each config's precision as
this machine resolves it), and predicts how long reproducing the shipped weights takes here:
targets TARGET_REPRODUCE_MIN for train_all.sh, TARGET_CODEC_MODEL_MIN for each codec model.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch

from . import baselines, metrics, train
from .baselines import ALL_CODECS, best_within_bytes, decode, describe, encode, pillow_roundtrip
from .codec import compress, decompress
from .data import GALLERY, load_gallery_image, to_tensor, to_uint8
from .hardware import PRECISIONS, cpu_name, resolve_precision
from .manifest import list_models, model_info
from .models import build_model, family_of
from .pipeline import analyse, score
from .pretrained import load_pretrained

TARGET_1024_S = 1.5  # seconds, 2 CPU cores
TARGET_64_S = 0.05
TARGET_CODEC_DECODE_S = 0.5
COOL_CHIC_DECODE_S = 0.0735  # Cool-chic 4.2 decodes a Kodak image in 73.5 ms on one CPU core (published; no target)
KODAK_SIZE = (512, 768)  # (H, W) of a landscape Kodak image
TARGET_RSS_MB = 2048
TARGET_REPRODUCE_MIN = 180  # train_all.sh (conv and dense models), elapsed, on 2 CPU cores
TARGET_CODEC_MODEL_MIN = 60  # each codec model, fine-tuned from the shipped conv weights
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def timed(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_on_one_thread(fn, repeats: int) -> float:
    """timed(fn), with torch on one thread (then back to what it was)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return timed(fn, repeats)
    finally:
        torch.set_num_threads(threads)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kB


def bench_model(model_id: str, repeats: int) -> dict:
    start = time.perf_counter()
    model = load_pretrained(model_id)
    row = {"id": model_id, "load_s": round(time.perf_counter() - start, 3),
           "parameters": model_info(model_id).parameters}
    sizes = (64, 512, 1024) if model.any_size else (64,)
    for side in sizes:
        image = to_uint8(torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)))
        row[f"roundtrip_{side}_s"] = round(timed(lambda: analyse(model, model_id, image, full_scores=False), repeats), 4)
    return row


def kodak_sized_photo() -> torch.Tensor:
    """The gallery's astronaut photo, its centre cropped to a Kodak image's 768×512: a real
    photo (a codec's speed depends on the bits it codes), available on any machine."""
    image = load_gallery_image(GALLERY[0].name)
    h, w = KODAK_SIZE
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    if top < 0 or left < 0:  # the gallery photo is 512×512: tile it out to 768 wide
        image = image[:, list(range(image.shape[1])) + list(range(image.shape[1]))[::-1]]
        top, left = max(0, (image.shape[0] - h) // 2), (image.shape[1] - w) // 2
    return to_tensor(image[top : top + h, left : left + w].copy())


def bench_codec(model_id: str, repeats: int) -> dict:
    """Seconds to compress and to decompress (weights already loaded) a Kodak-sized photo."""
    start = time.perf_counter()
    model = load_pretrained(model_id)
    info = model_info(model_id)
    sha = info.sha256
    row = {"id": model_id, "load_s": round(time.perf_counter() - start, 3), "parameters": info.parameters}
    x = kodak_sized_photo()
    data = compress(model, x, model_id, sha).data
    row["bpp"] = round(metrics.bits_per_pixel(len(data), *KODAK_SIZE), 3)
    row["encode_s"] = round(timed(lambda: compress(model, x, model_id, sha), repeats), 4)
    decode = lambda: decompress(data, load=lambda _: (model, sha))  # noqa: E731 — timed twice
    row["decode_s"] = round(timed(decode, repeats), 4)
    row["decode_1thread_s"] = round(timed_on_one_thread(decode, repeats), 4)
    pixels = to_uint8(x)
    row["jpeg_s"] = round(timed(lambda: pillow_roundtrip(pixels, "jpeg", 75), repeats), 4)
    return row


BASELINE_BPP = 1.0  # Pillow's codecs are timed at their best file within this rate


def bench_baseline(codec: str, repeats: int) -> dict:
    """Seconds to encode and to decode the Kodak-sized photo with one of Pillow's codecs, at its
    highest quality whose file fits in BASELINE_BPP."""
    h, w = KODAK_SIZE
    pixels = to_uint8(kodak_sized_photo())
    best = best_within_bytes(pixels, codec, int(BASELINE_BPP * h * w / 8))
    if best is None:
        raise SystemExit(f"{ALL_CODECS[codec].label} cannot make a {BASELINE_BPP} bpp file of the benchmark photo")
    data = encode(pixels, codec, best.quality)
    return {"id": ALL_CODECS[codec].label, "codec": codec, "settings": describe(codec), "quality": best.quality,
            "bpp": round(metrics.bits_per_pixel(len(data), h, w), 3), "psnr": round(score(pixels, best.decoded, full=False)["psnr"], 2),
            "encode_s": round(timed(lambda: encode(pixels, codec, best.quality), repeats), 4),
            "decode_s": round(timed(lambda: decode(data, codec), repeats), 4)}


def bench_training(config: Path, precision: str | None, repeats: int) -> dict:
    """Median seconds per training step of one config (random crops of its size) and the
    minutes its steps would take at that speed."""
    options = train.config_options(config)
    precision = resolve_precision(precision or options["precision"], torch.device("cpu"))
    model = build_model(options["family"], options["model"]).to(memory_format=torch.channels_last).train()
    optimizer = train.make_optimizer(model, options)
    side = options["crop"]
    x = torch.rand(options["batch_size"], 3, side, side, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=torch.channels_last)
    lmbda = options["lmbda"] if family_of(options).entropy_coded else None
    stepped = train.trainee(model)
    step_s = timed(lambda: train.training_step(stepped, optimizer, x, precision == "bfloat16", lmbda), repeats)
    return {"id": options["id"], "family": options["family"], "precision": precision, "step_s": round(step_s, 4),
            "steps": options["steps"], "minutes": round(step_s * options["steps"] / 60, 1)}


def report_training(rows: list[dict]) -> list[str]:
    print(f"{'config':14} {'precision':>9} {'s/step':>7} {'steps':>7} {'minutes':>8}")
    for r in rows:
        print(f"{r['id']:14} {r['precision']:>9} {r['step_s']:>7.3f} {r['steps']:>7,} {r['minutes']:>8.1f}")
    failures = []
    for script, group in (("train_all.sh", [r for r in rows if not family_of(r).entropy_coded]),
                          ("train_codecs.sh", [r for r in rows if family_of(r).entropy_coded])):
        if not group:
            continue
        total = sum(r["minutes"] for r in group)
        # Both scripts run two one-thread streams side by side: at best they split the work evenly.
        elapsed = total / 2
        print(f"{len(group)} configs of {script}: {total:.0f} min of one-thread training; two streams side by "
              f"side take at least {elapsed:.0f} min on 2 cores")
        if script == "train_all.sh" and elapsed > TARGET_REPRODUCE_MIN:
            failures.append(f"train_all.sh takes at least {elapsed:.0f} min > {TARGET_REPRODUCE_MIN} min")
        failures += [f"{r['id']}: {r['minutes']:.0f} min > {TARGET_CODEC_MODEL_MIN} min"
                     for r in group if script == "train_codecs.sh" and r["minutes"] > TARGET_CODEC_MODEL_MIN]
    return failures


def print_table(rows: list[dict], header: str, line) -> None:
    """`header`, then `line(row)` for each row; nothing without rows."""
    for text in [header, *map(line, rows)] if rows else []:
        print(text)


def report_inference(rows: list[dict]) -> list[str]:
    pillow = [r for r in rows if "codec" in r]
    codecs = [r for r in rows if "codec" not in r and "decode_s" in r]
    models = [r for r in rows if "decode_s" not in r]
    print_table(pillow, f"{'Pillow codec':13} {'quality':>7} {'bpp':>6} {'PSNR':>6} {'encode s':>9} {'decode s':>9}"
                        f"   (768×512 photo, best file within {BASELINE_BPP} bpp; the codecs pick their own threads)",
                lambda r: f"{r['id']:13} {r['quality']:>7} {r['bpp']:>6.3f} {r['psnr']:>6.2f} {r['encode_s']:>9.4f} "
                          f"{r['decode_s']:>9.4f}   {r['settings']}")
    print_table(codecs, f"{'codec model':16} {'bpp':>6} {'encode s':>9} {'decode s':>9} {'1 thread':>9} "
                        f"{'JPEG q75 s':>11} {'decode/JPEG':>12}   (768×512 photo; Cool-chic 4.2, published: "
                        f"{COOL_CHIC_DECODE_S} s on one core)",
                lambda r: f"{r['id']:16} {r['bpp']:>6.3f} {r['encode_s']:>9.3f} {r['decode_s']:>9.3f} "
                          f"{r['decode_1thread_s']:>9.3f} {r['jpeg_s']:>11.4f} {r['decode_s'] / r['jpeg_s']:>11.0f}×")
    print_table(models, f"{'model':14} {'params':>9} {'load s':>7} {'64² s':>8} {'512² s':>8} {'1024² s':>8}",
                lambda r: f"{r['id']:14} {r['parameters']:>9,} {r['load_s']:>7.3f} {r['roundtrip_64_s']:>8.4f} "
                          f"{r.get('roundtrip_512_s', float('nan')):>8.4f} {r.get('roundtrip_1024_s', float('nan')):>8.4f}")
    failures = [f"{r['id']}: decodes a 768×512 file in {r['decode_s']:.2f} s > {TARGET_CODEC_DECODE_S} s"
                for r in codecs if r["decode_s"] > TARGET_CODEC_DECODE_S]
    for r in models:
        if r.get("roundtrip_1024_s", 0) > TARGET_1024_S:
            failures.append(f"{r['id']}: 1024² in {r['roundtrip_1024_s']:.2f} s > {TARGET_1024_S} s")
        if "roundtrip_1024_s" not in r and r["roundtrip_64_s"] > TARGET_64_S:
            failures.append(f"{r['id']}: 64² in {r['roundtrip_64_s']:.3f} s > {TARGET_64_S} s")
    return failures


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m autoencoder bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", help="model ids (default: all; none: only the Pillow codecs)")
    p.add_argument("--codecs", nargs="*", choices=list(ALL_CODECS), metavar="CODEC",
                   help=f"Pillow codecs to time beside the models ({', '.join(ALL_CODECS)}; default: all installed)")
    p.add_argument("--training", action="store_true", help="time training steps instead of reconstructions")
    p.add_argument("--configs", nargs="*", type=Path, help=f"training configs (default: all in {CONFIGS})")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="training arithmetic to time (default: each config's, as train_all.sh trains)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice; 1 with --training)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    if args.threads or args.training:
        torch.set_num_threads(args.threads or 1)
    if args.training:
        configs = args.configs or sorted(CONFIGS.glob("*.json"))
        if not configs:
            raise SystemExit(f"no training configs in {CONFIGS}: pass --configs FILE …")
        rows = [bench_training(c, args.precision, args.repeats) for c in configs]
    else:
        rows = [bench_codec(m, args.repeats) if model_info(m).kind.entropy_coded else bench_model(m, args.repeats)
                for m in (args.models if args.models is not None else list_models())]
        codecs = list(ALL_CODECS) if args.codecs is None else args.codecs
        for reason in (baselines.UNAVAILABLE[c] for c in codecs if c in baselines.UNAVAILABLE):
            print(f"{reason}; left out")
        rows += [bench_baseline(c, args.repeats) for c in codecs if c in baselines.CODECS]
    what = "one training step" if args.training else "8-bit latent round trip; codec models: .aez files"
    print(f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"median of {args.repeats} runs, {what}")
    failures = report_training(rows) if args.training else report_inference(rows)
    rss = peak_rss_mb()
    print(f"peak resident memory: {rss:.0f} MB")
    if rss > TARGET_RSS_MB and not args.training:  # the models' target (the app's is tools.bench_app's)
        failures.append(f"peak memory {rss:.0f} MB > {TARGET_RSS_MB} MB")
    for f in failures:
        print("MISSED TARGET:", f)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "peak_rss_mb": round(rss), "failures": failures}, indent=2))
    if args.check and failures:
        raise SystemExit(1)
    return rows
