"""`python -m autoencoder compress` and `decompress`: images ↔ `.aez` files with a codec model.

    python -m autoencoder compress photo.jpg holiday/ -m codec-c16-cb -o out/    # → out/*.aez
    python -m autoencoder compress photo.jpg -o out/ --size 30KB      # or --bpp 0.5, or --quality 60
    python -m autoencoder compress photo.jpg -m codec-c16-cb -o out/ --effort max   # minutes: a searched latent
    python -m autoencoder decompress out/ -o decoded/ --reference holiday/      # → decoded/*.png

Each file gets one line: bytes, bits per pixel and PSNR (compress: of the decoded file against
the input; decompress: against the image of the same name in --reference, when given).
A file that cannot be read or written gets one line saying why (so does anything in a folder
that is not a regular file: a FIFO, a device, a broken link); the others still run, and the
exit status is then 2.

Nothing is overwritten: an output that exists is refused unless --force, an output that is
one of the inputs (or a --reference image) is refused even with --force, and inputs that
would be written to the same output are all refused. --effort max searches each image's
latent for the fixed decoder (minutes per photo, a progress line on stderr): fewer
bytes and a better picture, decoded by the same decoder. Outputs are written to a temporary file
beside them and renamed into place, so no half-written file is ever left under their name.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import io
import os
import stat
import sys
from collections import defaultdict
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from . import aez, metrics, rate, search
from .codec import CodecError, decompress, load_codec
from .data import IMAGE_SUFFIXES, ImageError, decode_image, to_tensor, to_uint8
from .files import kind_of, open_regular, read_at_most, write_new
from .manifest import WeightsError, list_models, model_info

MAX_AEZ_BYTES = 64 * 1024 * 1024  # an .aez file's declared length: 8 megapixels at 64 bits each (codecs write < 2)


def codec_models() -> list[str]:
    return [i for i in list_models() if model_info(i).kind.entropy_coded]


class Refused(Exception):
    """Nothing can be done for the whole command; the message says why, in one sentence."""


def reason(e: BaseException) -> str:
    """An exception as the end of a line that already names the file: the OS's words without
    the path it repeats, our own messages as they are, anything else with its type."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if isinstance(e, MemoryError):
        return "not enough memory"
    if isinstance(e, (OSError, ImageError, aez.AezError, CodecError, WeightsError)):
        return str(e)
    return f"unexpected {type(e).__name__} ({e})"


def refuse(path: Path | str, why: str) -> None:
    print(f"error: {path}: {why}", file=sys.stderr)


def _inputs(paths: list[Path], suffixes: tuple[str, ...], what: str) -> tuple[list[Path], int]:
    """(the files to read: those named, and those with one of `suffixes` in each folder named,
    sorted; each file once), number refused. Refused with one line each: a name that is
    not there, a folder with none of them, and what in a folder is not a regular file (a
    FIFO, a device, a broken link: listed from metadata, never opened). A named file's type
    is checked when it is opened."""
    found, seen, refused = [], set(), 0

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for path in paths:
        try:
            is_folder = stat.S_ISDIR(os.stat(path).st_mode)
            names = sorted(os.listdir(path)) if is_folder else []
        except (OSError, ValueError) as e:
            refuse(path, "a broken link" if isinstance(e, FileNotFoundError) and os.path.islink(path) else reason(e))
            refused += 1
            continue
        if not is_folder:
            add(path)
            continue
        matches = [path / n for n in names if Path(n).suffix.lower() in suffixes]
        if not matches:
            refuse(path, f"no {what} in this folder")
            refused += 1
        for file in matches:
            try:
                mode = os.stat(file).st_mode
            except OSError as e:
                refuse(file, "a broken link, skipped" if isinstance(e, FileNotFoundError) else f"{reason(e)}, skipped")
                refused += 1
                continue
            if stat.S_ISREG(mode):
                add(file)
            else:
                refuse(file, f"it is {kind_of(mode)}, not a regular file; skipped")
                refused += 1
    return found, refused


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _plan(files: list[Path], out: Path, suffix: str, force: bool, protected: list[Path],
          made: list[Path]) -> tuple[dict, int]:
    """({input: its output}, number refused). `out` is one output file (when it ends in `suffix`
    and there is one input) or a folder, made if absent (the folders made go to `made`, deepest
    first, for _remove_if_empty); Refused if it can be neither. Refused with one line each: an
    input whose output exists (unless `force`), is one of the `protected` files (inputs and
    references: even with `force`) or is a folder, and inputs that would share an output."""
    if out.suffix.lower() == suffix and not out.is_dir():
        if len(files) > 1:
            raise Refused(f"-o {out} names one {suffix} file, but there are {len(files)} inputs; name a folder")
        targets = {f: out for f in files}
        folder = out.parent
    else:
        if os.path.lexists(out) and not out.is_dir():
            raise Refused(f"-o {out} is {'a link to nothing' if not out.exists() else 'a file'}, not a folder; "
                          f"name a folder (or one {suffix} file for one input)")
        targets = {f: out / (f.stem + suffix) for f in files}
        folder = out
    missing = folder
    while not os.path.lexists(missing) and missing != missing.parent:
        made.append(missing)
        missing = missing.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:  # the parents mkdir made before it failed are taken back too
        raise Refused(f"cannot create the output folder {folder}: {reason(e)}") from None
    sharing = defaultdict(list)
    for source, target in targets.items():
        sharing[os.path.normcase(os.path.abspath(target))].append(source)
    kept = {identity for identity in map(_identity, protected) if identity is not None}
    plan, refused = {}, 0
    for source, target in targets.items():
        others = [str(o) for o in sharing[os.path.normcase(os.path.abspath(target))] if o != source]
        if others:
            why = f"{', '.join(others)} would be written to {target} too; none of them is (use separate -o folders)"
        elif _identity(target) in kept:
            why = f"{target} is one of the inputs; it is never written over, even with --force (choose another -o)"
        elif target.is_dir():
            why = f"{target} is a folder"
        elif os.path.lexists(target) and not force:
            why = f"{target} exists; --force replaces it"
        else:
            plan[source] = target
            continue
        refuse(source, why)
        refused += 1
    return plan, refused


def _remove_if_empty(folders: list[Path]) -> None:
    """Take back the output folders a run made (deepest first) while they are empty: a run that
    wrote nothing leaves nothing behind. os.rmdir removes only an empty folder."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except (FileNotFoundError, ValueError):  # never made (a mkdir that failed part way; a NUL in the name)
            continue
        except OSError:  # not empty: it holds what the run wrote, and so do its parents
            return


def _write(source: Path, target: Path, data: bytes, force: bool) -> bool:
    """Write one output (files.write_new); False, with its line, if it cannot be."""
    try:
        write_new(target, data, replace=force)
    except FileExistsError:
        refuse(source, f"{target} appeared meanwhile; not replaced (--force replaces it)")
    except (OSError, ValueError) as e:
        refuse(source, f"cannot write {target}: {reason(e)}")
    else:
        return True
    return False


def read_aez(path: Path) -> bytes:
    """An .aez file's bytes, opened once as a regular file (files.open_regular) and read to the
    length its header declares and one byte more: a file longer than its header says, or
    declaring more than MAX_AEZ_BYTES, is refused before it is read (a 50 GB sparse file costs
    a few hundred bytes). AezError or OSError say why."""
    fd, _ = open_regular(path)
    try:
        head = read_at_most(fd, aez.LONGEST_HEADER)
        length = aez.declared_length(head)
        if length is None:
            return head
        if length > MAX_AEZ_BYTES:
            raise aez.AezError(f"its header declares {length:,} bytes; .aez files of at most {MAX_AEZ_BYTES:,} "
                               "are read")
        data = head + read_at_most(fd, max(0, length + 1 - len(head)))
    finally:
        os.close(fd)
    if len(data) != length:
        raise aez.AezError(f"the file goes on past the {length:,} bytes its header declares" if len(data) > length
                           else f"the file is cut short: it holds {len(data):,} of the {length:,} bytes its header declares")
    return data


def _report(name: str, num_bytes: int, height: int, width: int, psnr: float | None) -> str:
    quality = f", PSNR {psnr:.2f} dB" if psnr is not None else ""
    return f"{name}: {num_bytes:,} bytes, {metrics.bits_per_pixel(num_bytes, height, width):.3f} bpp{quality}"


def _size(text: str) -> int:
    try:
        return rate.parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


@contextlib.contextmanager
def _search_progress(path: Path, effort: str):
    """A progress line on stderr while an image's latent is searched (progress(k): k steps
    done), or None at an effort without a search."""
    schedule = search.EFFORTS[effort]
    if schedule is None:
        yield None
        return
    with tqdm(total=schedule.steps, desc=f"{path.name}: searching the latent", unit="step", leave=False) as bar:
        yield lambda done: bar.update(done - bar.n)


def compress_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autoencoder compress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--force", action="store_true", help="replace outputs that exist (never an input)")
    p.add_argument("inputs", nargs="+", type=Path, help="images, or folders of images")
    p.add_argument("-m", "--model", help="a codec model id (a wrong one gets the list); give a model, a target "
                   "below, or both: with both, the step is searched within this model only")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (or an .aez file for one image)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--quality", type=float, help="0…100: a model and quantization step from the ladder, "
                        "the same for every image (docs/codec.md)")
    goal.add_argument("--bpp", type=float, help="at most this many bits per pixel: the model and step that "
                        "decode best within it")
    goal.add_argument("--size", type=_size, help="at most this many bytes per file (4096, 30KB, 30KiB, "
                        "1.5MB): the model and step that decode best within it")
    p.add_argument("--effort", choices=list(search.EFFORTS), default="default",
                   help="default: the encoder's latent; max: search it for the decoder (minutes per photo, "
                   "fewer bytes for a better picture, the same decoder)")
    args = p.parse_args(argv)
    if args.bpp is not None and not args.bpp > 0:
        p.error(f"--bpp must be a positive number of bits per pixel, got {args.bpp:g}")
    if args.quality is not None and not 0 <= args.quality <= 100:
        p.error(f"--quality must be in 0…100, got {args.quality:g}")
    targeted = any(v is not None for v in (args.quality, args.bpp, args.size))
    if args.model is None and not targeted:
        p.error("give a model (-m) or a target (--quality, --bpp or --size)")
    made: list[Path] = []
    try:
        return _compress(args, targeted, made)
    finally:
        _remove_if_empty(made)


def _compress(args: argparse.Namespace, targeted: bool, made: list[Path]) -> int:
    load = functools.cache(load_codec)  # rate control loads each model once for all the files
    try:
        codecs = codec_models()
        if args.model is not None and args.model not in codecs:
            raise Refused(f"{args.model!r} is not a codec model; codec models: {', '.join(codecs) or 'none installed'}")
        files, failed = _inputs(args.inputs, IMAGE_SUFFIXES, f"images ({', '.join(IMAGE_SUFFIXES)})")
        plan, refused = _plan(files, args.out, ".aez", args.force, files, made)
        model, sha = load(args.model) if plan and not targeted else (None, None)
    except (Refused, WeightsError, CodecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed += refused
    for path, target in plan.items():
        try:
            image = decode_image(path)
            x = to_tensor(image)
            with _search_progress(path, args.effort) as progress:
                if targeted:
                    chosen = rate.compress_to(x, target_bytes=args.size, bpp=args.bpp, quality=args.quality,
                                              models=[args.model] if args.model else codecs, load=load,
                                              effort=args.effort, progress=progress)
                    result = chosen.compressed
                    if chosen.note:
                        print(f"warning: {path}: {chosen.note}", file=sys.stderr)
                else:
                    result = search.encoding(model, x, args.model, sha, model_info(args.model).lmbda,
                                             effort=args.effort, progress=progress).compressed()
            psnr = float(metrics.psnr(to_tensor(to_uint8(result.image)), x))
        except Exception as e:  # noqa: BLE001 (one line for this file, and the others go on)
            refuse(path, reason(e))
            failed += 1
            continue
        if not _write(path, target, result.data, args.force):
            failed += 1
            continue
        chosen_by = f" ({chosen.model_id}, step {chosen.step:g})" if targeted else ""
        print(_report(f"{path} → {target}{chosen_by}", len(result.data), *image.shape[:2], psnr))
    return 2 if failed or not plan else 0


def _references(reference: Path | None) -> dict[str, Path] | Path | None:
    """--reference: one image file as given, or {stem: image} of a folder's images (the first
    by name where several share a stem)."""
    if reference is None or not reference.is_dir():
        return reference
    found = {}
    for name in sorted(os.listdir(reference)):
        path = reference / name
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.setdefault(path.stem, path)
    return found


def _reference(source: Path, references: dict[str, Path] | Path | None, single: bool) -> Path | None:
    if isinstance(references, dict):
        return references.get(source.stem)
    return references if single else None


def decompress_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autoencoder decompress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--force", action="store_true", help="replace outputs that exist (never an input or a reference)")
    p.add_argument("inputs", nargs="+", type=Path, help=".aez files, or folders of them")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (or a .png file for one input)")
    p.add_argument("-m", "--model", help="refuse files made with any other model")
    p.add_argument("--reference", type=Path, help="the original image (or a folder of them, matched by name) for PSNR")
    args = p.parse_args(argv)
    made: list[Path] = []
    try:
        return _decompress(args, made)
    finally:
        _remove_if_empty(made)


def _decompress(args: argparse.Namespace, made: list[Path]) -> int:
    try:
        files, failed = _inputs(args.inputs, (".aez",), ".aez files")
        if args.reference is not None and not os.path.exists(args.reference):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(args.reference))
        references = _references(args.reference)
        if isinstance(references, Path) and len(files) > 1:
            raise Refused(f"--reference {args.reference} is one image, but there are {len(files)} .aez files; "
                          "name a folder of the originals (matched by name)")
        protected = files + (list(references.values()) if isinstance(references, dict) else [references] if references else [])
        plan, refused = _plan(files, args.out, ".png", args.force, protected, made)
    except (Refused, OSError) as e:
        print(f"error: {e if isinstance(e, Refused) else f'--reference {args.reference}: {reason(e)}'}", file=sys.stderr)
        return 2
    failed += refused
    for path, target in plan.items():
        try:
            data = read_aez(path)
            result = decompress(data, expect_model=args.model)
            pixels = to_uint8(result.image)
            png = io.BytesIO()
            Image.fromarray(pixels).save(png, format="PNG")
        except Exception as e:  # noqa: BLE001 (one line for this file, and the others go on)
            refuse(path, reason(e))
            failed += 1
            continue
        if not _write(path, target, png.getvalue(), args.force):
            failed += 1
            continue
        ref = _reference(path, references, len(files) == 1)
        psnr = None
        if ref is not None:
            try:
                original = decode_image(ref)
            except (ImageError, OSError) as e:
                print(f"warning: {ref}: {reason(e)}", file=sys.stderr)
            else:
                if original.shape == pixels.shape:
                    psnr = float(metrics.psnr(to_tensor(pixels), to_tensor(original)))
                else:
                    print(f"warning: {ref}: it is {original.shape[1]}×{original.shape[0]}, the decoded image "
                          f"{pixels.shape[1]}×{pixels.shape[0]}; no PSNR", file=sys.stderr)
        step = aez.step_value(result.header.step)
        made_by = result.model_id if step == 1 else f"{result.model_id}, step {step:g}"
        print(_report(f"{path} → {target} ({made_by})", len(data), *pixels.shape[:2], psnr))
    return 2 if failed or not plan else 0

