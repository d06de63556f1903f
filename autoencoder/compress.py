"""`python -m autoencoder compress` and `decompress`: images ↔ `.aez` files with a codec model.

    python -m autoencoder compress photo.jpg holiday/ -m codec-c16-hp -o out/    # → out/*.aez
    python -m autoencoder compress photo.jpg -o out/ --size 30KB      # or --bpp 0.5, or --quality 60
    python -m autoencoder decompress out/ -o decoded/ --reference holiday/      # → decoded/*.png

Each file gets one line: bytes, bits per pixel and PSNR (compress: of the decoded file against
the input; decompress: against the image of the same name in --reference, when given).
A file that cannot be read gets one line saying why; the others still run, and the exit
status is then 2.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from PIL import Image

from . import aez, metrics, rate
from .codec import CodecError, compress, decompress, load_codec
from .data import IMAGE_SUFFIXES, ImageError, decode_image, to_tensor, to_uint8
from .pretrained import WeightsError, list_models, model_info


def codec_models() -> list[str]:
    return [i for i in list_models() if model_info(i).get("family") == "codec"]


def _inputs(paths: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files as given, and the files with one of `suffixes` in each folder (sorted)."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes and p.is_file())
        else:
            found.append(path)
    return found


def _output(source: Path, out: Path, suffix: str, single: bool) -> Path:
    """out itself when it names a file of the right kind and there is one input; else out/<stem><suffix>."""
    if single and out.suffix.lower() == suffix:
        out.parent.mkdir(parents=True, exist_ok=True)
        return out
    out.mkdir(parents=True, exist_ok=True)
    return out / (source.stem + suffix)


def _report(name: str, num_bytes: int, height: int, width: int, psnr: float | None) -> str:
    quality = f", PSNR {psnr:.2f} dB" if psnr is not None else ""
    return f"{name}: {num_bytes:,} bytes, {metrics.bits_per_pixel(num_bytes, height, width):.3f} bpp{quality}"


def _size(text: str) -> int:
    try:
        return rate.parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def compress_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autoencoder compress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", type=Path, help="images, or folders of images")
    p.add_argument("-m", "--model", help="a codec model id (see `list_models()`); with a target below, the "
                   "step is searched within this model only")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (or an .aez file for one image)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--quality", type=float, help="0…100: a model and quantization step from the ladder, "
                        "the same for every image (rate.py)")
    goal.add_argument("--bpp", type=float, help="at most this many bits per pixel: the model and step that "
                        "decode best within it")
    goal.add_argument("--size", type=_size, help="at most this many bytes per file (4096, 30KB, 30KiB, "
                        "1.5MB): the model and step that decode best within it")
    args = p.parse_args(argv)
    targeted = any(v is not None for v in (args.quality, args.bpp, args.size))
    if args.model is None and not targeted:
        p.error("give a model (-m) or a target (--quality, --bpp or --size)")
    codecs = codec_models()
    load = functools.cache(load_codec)  # rate control loads each model once for all the files
    if args.model is not None and args.model not in codecs:
        print(f"error: {args.model!r} is not a codec model; codec models: {', '.join(codecs) or 'none installed'}",
              file=sys.stderr)
        return 2
    try:
        if not targeted:
            model, sha = load_codec(args.model)
    except (WeightsError, CodecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    files = _inputs(args.inputs, IMAGE_SUFFIXES)
    failed = 0
    for path in files:
        try:
            image = decode_image(path)
            x = to_tensor(image)
            if targeted:
                chosen = rate.compress_to(x, target_bytes=args.size, bpp=args.bpp, quality=args.quality,
                                          models=[args.model] if args.model else codecs, load=load)
                result = chosen.compressed
                if chosen.note:
                    print(f"warning: {path}: {chosen.note}", file=sys.stderr)
            else:
                result = compress(model, x, args.model, sha)
        except (ImageError, ValueError, OSError, WeightsError, CodecError) as e:
            print(f"error: {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        target = _output(path, args.out, ".aez", len(files) == 1)
        target.write_bytes(result.data)
        psnr = float(metrics.psnr(to_tensor(to_uint8(result.image)), x))
        chosen_by = f" ({chosen.model_id}, step {chosen.step:g})" if targeted else ""
        print(_report(f"{path} → {target}{chosen_by}", len(result.data), *image.shape[:2], psnr))
    return 2 if failed or not files else 0


def _reference(source: Path, reference: Path | None, single: bool) -> Path | None:
    if reference is None:
        return None
    if reference.is_file() and single:
        return reference
    matches = [p for p in reference.glob(source.stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES] \
        if reference.is_dir() else []
    return matches[0] if matches else None


def decompress_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autoencoder decompress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", type=Path, help=".aez files, or folders of them")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (or a .png file for one input)")
    p.add_argument("-m", "--model", help="refuse files made with any other model")
    p.add_argument("--reference", type=Path, help="the original image (or a folder of them, matched by name) for PSNR")
    args = p.parse_args(argv)
    files = _inputs(args.inputs, (".aez",))
    failed = 0
    for path in files:
        try:
            data = path.read_bytes()
            result = decompress(data, expect_model=args.model)
        except (OSError, aez.AezError, CodecError, WeightsError) as e:
            print(f"error: {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        target = _output(path, args.out, ".png", len(files) == 1)
        pixels = to_uint8(result.image)
        Image.fromarray(pixels).save(target)
        ref = _reference(path, args.reference, len(files) == 1)
        psnr = None
        if ref is not None:
            try:
                original = decode_image(ref)
            except ImageError as e:
                print(f"warning: {ref}: {e}", file=sys.stderr)
            else:
                if original.shape == pixels.shape:
                    psnr = float(metrics.psnr(to_tensor(pixels), to_tensor(original)))
        print(_report(f"{path} → {target} ({result.model_id})", len(data), *pixels.shape[:2], psnr))
    return 2 if failed or not files else 0

