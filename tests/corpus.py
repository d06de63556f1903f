"""The odd inputs of issues 16 and 22, made here (no files are shipped for them): damaged
manifests and weight files, odd image files, and command lines that must not destroy, hang or
crash, each with what must happen to it. Used by test_hardening (the package), test_app (the
page) and test_cli (the commands).

A manifest case changes one model's entry, or the files beside it, in a copy of a working
weights folder, and names the words the refusal must contain. An image case is file bytes and
either the refusal's words or a check of the decoded picture. A CLI case lays out files in an
empty folder, runs one command there, and names the words of each refusal line and the
files it must write (nothing else in the folder may change).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

# ---------------------------------------------------------------------------------------
# Manifests and weight files


@dataclass(frozen=True)
class ManifestCase:
    change: Callable[[Path, dict], list | None]  # (weights folder, the target entry) → changes it (or the folder)
    # in place; may return entries to list before it
    words: str  # what the refusal says
    at_load: bool = False  # True: the entry passes the schema and load_pretrained refuses it
    text: Callable[[str], str] | None = None  # then changes the manifest's text (what json.dumps cannot write)


def _set(**fields):
    return lambda folder, entry: entry.update(fields)


def _config(**fields):
    return lambda folder, entry: entry["config"].update(fields)


def _drop(key):
    def change(folder: Path, entry: dict) -> None:
        del entry[key]
    return change


def _fifo(folder: Path, entry: dict) -> None:
    os.mkfifo(folder / "fifo.safetensors")
    entry["file"] = "fifo.safetensors"


def _link(target: str):
    def change(folder: Path, entry: dict) -> None:
        (folder / "link.safetensors").symlink_to(target)
        entry["file"] = "link.safetensors"
    return change


def _nan_weights(folder: Path, entry: dict) -> None:
    """NaN in one weight, and the sha256 updated to match: only the finiteness check can tell."""
    from safetensors.torch import load_file, save_file

    from autoencoder.pretrained import sha256_of

    path = folder / entry["file"]
    state = load_file(str(path))
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name].view(-1)[0] = float("nan")
    save_file(state, str(path))
    entry["sha256"] = sha256_of(path)


def _huge_weights(folder: Path, entry: dict) -> None:
    """Every weight 3e38 (finite in float32), sha256 updated: the model's outputs overflow."""
    from safetensors.torch import load_file, save_file

    from autoencoder.pretrained import sha256_of

    path = folder / entry["file"]
    state = {k: v.fill_(3e38) if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    save_file(state, str(path))
    entry["sha256"] = sha256_of(path)


def _link_loop(folder: Path, entry: dict) -> None:
    (folder / "loop-a.safetensors").symlink_to("loop-b.safetensors")
    (folder / "loop-b.safetensors").symlink_to("loop-a.safetensors")
    entry["file"] = "loop-a.safetensors"


def _folder_named_as_weights(folder: Path, entry: dict) -> None:
    (folder / "folder.safetensors").mkdir()
    entry["file"] = "folder.safetensors"


def _listed_twice_first_broken(folder: Path, entry: dict) -> list:
    """A broken copy of the entry before it: the valid second copy must not be listed as if it
    were the one that loads (model_info found the first)."""
    return [dict(entry, family="mlp")]


_DIGITS = "9" * 5000


def _changed_bytes(folder: Path, entry: dict) -> None:
    path = folder / entry["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


MANIFEST_CASES = {
    "file is /dev/zero": ManifestCase(_set(file="/dev/zero"), "must be a .safetensors file name"),
    "file is a path out of the folder": ManifestCase(_set(file="../../../../etc/passwd"), "must be a .safetensors"),
    "file is '.'": ManifestCase(_set(file="."), "must be a .safetensors file name"),
    "no file": ManifestCase(_drop("file"), "it has no 'file'"),
    "no sha256": ManifestCase(_drop("sha256"), "it has no 'sha256'"),
    "sha256 not hex": ManifestCase(_set(sha256="z" * 64), "64 lowercase hexadecimal"),
    "unknown family": ManifestCase(_set(family="mlp"), "unknown family 'mlp'"),
    "conv changed to dense": ManifestCase(_set(family="dense"), "unknown field 'latent_channels'"),
    "ratio in words": ManifestCase(_set(ratio="twelve"), "ratio must be a positive number"),
    "unknown config key": ManifestCase(_config(colour="red"), "unknown field 'colour'"),
    "width as a string": ManifestCase(_config(width="128"), "width must be an integer from 1 to 512, got '128'"),
    "negative channels": ManifestCase(_config(latent_channels=-4), "latent_channels must be an integer"),
    "width 1e9": ManifestCase(_config(width=1e9), "width must be an integer from 1 to 512"),
    "width 2048": ManifestCase(_config(width=2048), "width must be an integer from 1 to 512, got 2048"),
    "too many parameters": ManifestCase(_config(width=512, depth=8, refine_width=128, refine_depth=8),
                                        "parameters; at most"),
    "latent_channels disagrees": ManifestCase(_set(latent_channels=5), "differs from its config"),
    "FIFO": ManifestCase(_fifo, "a FIFO (named pipe), not a regular file", at_load=True),
    "link to /dev/zero": ManifestCase(_link("/dev/zero"), "leads outside the weights folder", at_load=True),
    "link out of the folder": ManifestCase(_link("/etc/hostname"), "leads outside the weights folder", at_load=True),
    "NaN weights, sha256 updated": ManifestCase(_nan_weights, "not finite", at_load=True),
    "changed bytes": ManifestCase(_changed_bytes, "does not match the manifest", at_load=True),
    # issue 22
    "file name with a NUL byte": ManifestCase(_set(file="conv\x00.safetensors"), "must be a .safetensors file name"),
    "symlink loop between two .safetensors": ManifestCase(_link_loop, "cannot be followed", at_load=True),
    "file is a folder": ManifestCase(_folder_named_as_weights, "a folder, not a regular file", at_load=True),
    "width of 5,000 digits": ManifestCase(_config(width="@digits@"), "width must be an integer from 1 to 512, got inf",
                                          text=lambda text: text.replace('"@digits@"', _DIGITS)),
    "weights of 3e38, sha256 updated": ManifestCase(_huge_weights, "not finite (NaN or infinity) on a test image",
                                                    at_load=True),
    "id listed twice, the first copy broken": ManifestCase(_listed_twice_first_broken, "listed 2 times"),
}

WHOLE_MANIFEST_CASES = {  # manifest.json text → the refusal's words
    "a JSON list": ("[1, 2, 3]", 'must be a JSON object with a "models" list'),
    "a string": ('"models"', 'must be a JSON object with a "models" list'),
    "models is a string": ('{"models": "conv-c4"}', 'must be a JSON object with a "models" list'),
    "not JSON": ("{models: [", "is not valid JSON"),
    "200,000 nested [": ("[" * 200_000, "nests 200,000 levels deep; at most 32 are accepted"),
    "an entry nested 40 deep": ('{"models": [{"id": "x", "training": ' + "[" * 40 + "]" * 40 + "}]}",
                                "nests 43 levels deep"),
}


def break_model(folder: Path, model_id: str, case: ManifestCase) -> None:
    """Apply `case` to `model_id`'s entry in folder/manifest.json (and its files)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    models = manifest["models"]
    entry = next(e for e in models if e["id"] == model_id)
    before = models.index(entry)
    models[before:before] = case.change(folder, entry) or []
    text = json.dumps(manifest)
    path.write_text(case.text(text) if case.text else text)


def many_entries(count: int, configs: int) -> dict:
    """A manifest of `count` small valid conv entries (~330 bytes each) using `configs` distinct
    configs: the page checks every entry on every run."""
    def entry(i: int) -> dict:
        channels = 1 + i % configs
        return {"id": f"m{i}", "family": "conv", "config": {"latent_channels": channels, "width": 8, "depth": 1},
                "file": f"m{i}.safetensors", "sha256": "0" * 64, "ratio": 1.0, "latent_channels": channels,
                "parameters": 9000 + i, "storage_dtype": "float32", "file_bytes": 40000 + i, "note": "x" * 20}
    return {"models": [entry(i) for i in range(count)]}


# ---------------------------------------------------------------------------------------
# Image files


def smooth(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth photo-like RGB uint8 picture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(xx / rng.uniform(5, 20) + c) * np.cos(yy / rng.uniform(5, 20)) for c in range(3)], -1)
    return np.clip(base * 100 + 128, 0, 255).astype(np.uint8)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def float_tiff(values: np.ndarray, **options) -> bytes:
    return encoded(Image.fromarray(values.astype(np.float32), mode="F"), "TIFF", **options)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width × height: its data covers a sliver, so a
    decoder that trusts the header allocates the whole claimed picture."""
    data = bytearray(encoded(Image.fromarray(smooth(64, 64)), "JPEG", quality=90))
    sof = data.index(b"\xff\xc0")  # baseline frame header: marker, length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width × height and holds no pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) \
        + chunk(b"IEND", b"")


def png_with_profile(image: np.ndarray, profile_bytes: int) -> bytes:
    """A PNG with an sRGB ICC profile padded to `profile_bytes` (cameras embed large ones)."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encoded(Image.fromarray(image), "PNG", icc_profile=srgb + bytes(profile_bytes - len(srgb)))


def large_png(side: int) -> bytes:
    """An 8-bit RGB PNG of side × side with little detail: a few MB on disk, side² × 3 bytes decoded."""
    row = np.repeat(smooth(1, side // 8), 8, axis=1)
    return encoded(Image.fromarray(np.repeat(row, side, axis=0)), "PNG")


def sixteen_bit_png(side: int) -> bytes:
    """A flat-ish 16-bit grayscale PNG: tiny on disk, side² × 2 bytes decoded."""
    values = (np.add.outer(np.arange(side), np.arange(side)) % 4096 * 16).astype(np.uint16)
    return encoded(Image.fromarray(values), "PNG")


def scan_bomb(side: int, repeats: int) -> bytes:
    """A flat progressive JPEG with its last scan repeated: each repeat is ~14 bytes and makes
    the decoder walk every block again (issue 22: 7000×7000 and 2,000 repeats in 582 KB tied a
    core up for 81 s; the same file made small)."""
    data = encoded(Image.new("RGB", (side, side), (90, 140, 200)), "JPEG", quality=90, progressive=True)
    last = data.rindex(b"\xff\xda")  # the last scan: its header, then coded data up to the end marker
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * repeats + data[end:]


def jpeg_with_comment(payload: bytes) -> bytes:
    """A baseline JPEG (one scan) with a COM segment holding `payload` right after SOI."""
    data = encoded(Image.fromarray(smooth(48, 64)), "JPEG", quality=90)
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def mpo(first: np.ndarray, second: np.ndarray) -> bytes:
    """A multi-picture JPEG (MPO) as phone and 3D cameras write them: the first picture is the photo."""
    return encoded(Image.fromarray(first), "MPO", save_all=True, append_images=[Image.fromarray(second)], quality=90)


def integer_tiff(values: np.ndarray) -> bytes:
    """An uncompressed TIFF of integer samples of values' own type, single-channel (H, W) or
    RGB (H, W, 3), with BitsPerSample and SampleFormat as a scientific camera writes them
    (Pillow writes none of uint32, int8, or signed colour)."""
    height, width = values.shape[:2]
    samples = 1 if values.ndim == 2 else values.shape[2]
    bits, sample_format = values.dtype.itemsize * 8, {"u": 1, "i": 2}[values.dtype.kind]
    pixels = values.astype(values.dtype.newbyteorder("<")).tobytes()
    extra = struct.pack(f"<{samples}H", *[bits] * samples) + struct.pack(f"<{samples}H", *[sample_format] * samples)
    at = 8 + len(pixels)  # where the per-sample arrays go, when there are several samples

    def tag(number: int, value: int, array_at: int | None = None) -> bytes:
        if samples > 1 and array_at is not None:
            return struct.pack("<HHII", number, 3, samples, array_at)
        return struct.pack("<HHIHH", number, 3, 1, value, 0)

    tags = [tag(256, width), tag(257, height), tag(258, bits, at), tag(259, 1), tag(262, 1 if samples == 1 else 2),
            struct.pack("<HHII", 273, 4, 1, 8), tag(277, samples), tag(278, height),
            struct.pack("<HHII", 279, 4, 1, len(pixels)), tag(339, sample_format, at + 2 * samples)]
    ifd = struct.pack("<H", len(tags)) + b"".join(tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", at + len(extra)) + pixels + extra + ifd


def _ramp(dtype) -> np.ndarray:
    """The type's lowest value, 0 (or its middle, unsigned) and highest, across 6×4 pixels."""
    info = np.iinfo(dtype)
    middle = 0 if info.min < 0 else (info.max + 1) // 2
    return np.array([[info.min, middle, info.max] * 2] * 4, dtype=dtype)


def _ramp_read_right(rgb: np.ndarray) -> bool:
    return rgb[0, :3, 0].tolist() == [0, 128, 255] and (rgb[..., 0] == rgb[..., 2]).all()


@dataclass(frozen=True)
class ImageCase:
    data: Callable[[], bytes]
    words: str | None = None  # the refusal's words; None: it must decode
    check: Callable[[np.ndarray], bool] | None = None  # what the decoded picture must satisfy


def _other_format(fmt: str, **options) -> ImageCase:
    return ImageCase(lambda: encoded(Image.fromarray(smooth(32, 32)), fmt, **options), "not an image in an accepted format")


_NEAR_ONE = np.linspace(0, 1, 40 * 50, dtype=np.float32).reshape(40, 50)
_JPEG = encoded(Image.fromarray(smooth(120, 160)), "JPEG", quality=90)

IMAGE_CASES = {
    "float TIFF with a pixel at 1.0001": ImageCase(
        lambda: float_tiff(np.where(np.arange(_NEAR_ONE.size).reshape(_NEAR_ONE.shape) == 7, 1.0001, _NEAR_ONE)),
        check=lambda rgb: abs(float(rgb[..., 0].mean()) - 127.5) < 2),  # the 0…1 ramp, not black
    "float TIFF with a NaN": ImageCase(
        lambda: float_tiff(np.where(np.arange(_NEAR_ONE.size).reshape(_NEAR_ONE.shape) == 1999, np.nan, _NEAR_ONE)),
        check=lambda rgb: abs(float(rgb[:39].mean()) - 125) < 3 and (rgb[-1, -1] == 0).all()),  # NaN alone is black
    "float TIFF in 0…255": ImageCase(lambda: float_tiff(_NEAR_ONE * 255), check=lambda rgb: rgb.max() == 255),
    "PNG with a 2 MB colour profile": ImageCase(lambda: png_with_profile(smooth(40, 40), 2_000_000),
                                                check=lambda rgb: np.abs(rgb.astype(int) - smooth(40, 40)).max() <= 2),
    "JPEG missing its end marker": ImageCase(
        lambda: _JPEG[:-2],
        check=lambda rgb: (rgb == np.asarray(Image.open(io.BytesIO(_JPEG)).convert("RGB"))).all()),
    "JPEG cut in half": ImageCase(lambda: _JPEG[: len(_JPEG) // 2], "damaged or truncated"),
    "just over 50 megapixels": ImageCase(lambda: png_header(7072, 7071),
                                         "7072×7071 = 50,006,112 pixels; at most 50,000,000 pixels"),
    "400 megapixels": ImageCase(lambda: png_header(20_000, 20_000), "the image has 400,000,000 pixels"),
    "a text file": ImageCase(lambda: b"this is a text file, not a picture", "not an image in an accepted format"),
    "an empty file": ImageCase(lambda: b"", "the file is empty (0 bytes)"),
    "1×1 pixel": ImageCase(lambda: encoded(Image.new("RGB", (1, 1), "red"), "PNG"), "both sides must be at least 2"),
    "2000×10 strip": ImageCase(lambda: encoded(Image.new("RGB", (2000, 10), "red"), "PNG"), "wider than 32:1"),
    "PPM renamed": _other_format("PPM"),
    "TGA renamed": _other_format("TGA"),
    "ICO renamed": _other_format("ICO"),
    "PCX renamed": _other_format("PCX"),
    "JPEG 2000 renamed": _other_format("JPEG2000"),
    "EPS renamed": ImageCase(lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
                             "not an image in an accepted format"),
    # issue 22
    "progressive JPEG, last scan repeated 500 times": ImageCase(lambda: scan_bomb(512, 500), "more than 64 scans"),
    "progressive JPEG of 64 scans": ImageCase(lambda: scan_bomb(64, 54), check=lambda rgb: rgb.shape == (64, 64, 3)),
    "JPEG with FF DA 500 times in a comment": ImageCase(lambda: jpeg_with_comment(b"\xff\xda" * 500),
                                                       check=lambda rgb: rgb.shape == (48, 64, 3)),
    "MPO of two pictures": ImageCase(lambda: mpo(smooth(48, 64), np.zeros((48, 64, 3), np.uint8)),
                                     check=lambda rgb: rgb.shape == (48, 64, 3) and rgb.mean() > 60),  # the photo
    "uint32 TIFF": ImageCase(lambda: integer_tiff(_ramp(np.uint32)), check=_ramp_read_right),
    "int32 TIFF": ImageCase(lambda: integer_tiff(_ramp(np.int32)), check=_ramp_read_right),
    "int16 TIFF": ImageCase(lambda: integer_tiff(_ramp(np.int16)), check=_ramp_read_right),
    "int8 TIFF": ImageCase(lambda: integer_tiff(_ramp(np.int8)), check=_ramp_read_right),
    "uint16 TIFF": ImageCase(lambda: integer_tiff(_ramp(np.uint16)), check=_ramp_read_right),
    "int16 RGB TIFF": ImageCase(lambda: integer_tiff(np.zeros((4, 6, 3), np.int16)), "sample type cannot be read"),
}


# ---------------------------------------------------------------------------------------
# Command lines (issue 22): what `compress` and `decompress` must refuse, file by file


@dataclass(frozen=True)
class CliCase:
    layout: dict[str, str]  # path in the work folder → what it is (see lay_out)
    command: str  # after `python -m autoencoder`, run in the work folder; {model} is a codec model's id
    words: tuple[str, ...]  # one refusal line each (in any order), and no other
    writes: tuple[str, ...] = ()  # the files it must write; nothing else in the folder may change


def lay_out(folder: Path, layout: dict[str, str], image: bytes, aez: bytes) -> None:
    """Make each path of `layout` in `folder`: "image" (a PNG), "aez" (a valid .aez file),
    "text", "fifo", "folder", "link:TARGET", "sparse:GB" (an empty sparse file of that size),
    "aez+sparse:GB" (a valid .aez file extended, sparse, to that size)."""
    for name, what in layout.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        kind, _, arg = what.partition(":")
        if kind in ("image", "aez", "aez+sparse", "text"):
            path.write_bytes({"image": image, "text": b"notes\n"}.get(kind, aez))
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        elif kind == "link":
            path.symlink_to(arg)
        elif kind in ("sparse", "aez+sparse"):
            with open(path, "ab") as f:
                f.truncate(int(arg) * 1024**3)


_ODD_AEZ_FOLDER = {"codes/a.aez": "aez", "codes/fifo.aez": "fifo", "codes/huge.aez": "sparse:50",
                   "codes/zero.aez": "link:/dev/zero", "codes/gone.aez": "link:nowhere.aez",
                   "codes/loop1.aez": "link:loop2.aez", "codes/loop2.aez": "link:loop1.aez",
                   "codes/padded.aez": "aez+sparse:2", "codes/sub.aez": "folder", "codes/z.aez": "aez"}

CLI_CASES = {
    "decompress into the originals' folder": CliCase(
        {"holiday/photo.png": "image", "codes/photo.aez": "aez"}, "decompress codes -o holiday",
        ("holiday/photo.png exists; --force replaces it",)),
    "the same with --force and the originals as --reference": CliCase(
        {"holiday/photo.png": "image", "codes/photo.aez": "aez"},
        "decompress codes -o holiday --force --reference holiday",
        ("holiday/photo.png is one of the inputs; it is never written over, even with --force",)),
    "a decode over its own input, with --force": CliCase(
        {"a.png": "aez"}, "decompress a.png -o a.png --force", ("a.png is one of the inputs",)),
    "two inputs, one output name": CliCase(
        {"d1/photo.png": "image", "d2/photo.png": "image"}, "compress d1/photo.png d2/photo.png -m {model} -o same",
        ("d2/photo.png would be written to same/photo.aez too", "d1/photo.png would be written to same/photo.aez too")),
    "photo.png and photo.jpg in one folder": CliCase(
        {"trip/photo.png": "image", "trip/photo.jpg": "image", "trip/other.png": "image"}, "compress trip -m {model} -o out",
        ("trip/photo.png would be written to out/photo.aez too", "trip/photo.jpg would be written to out/photo.aez too"),
        writes=("out/other.aez",)),
    "-o pre/ holding that output already": CliCase(
        {"photo.png": "image", "pre/photo.aez": "aez"}, "compress photo.png -m {model} -o pre/",
        ("pre/photo.aez exists; --force replaces it",)),
    "-o names a file where a folder is needed": CliCase(
        {"a.png": "image", "b.png": "image", "existing.txt": "text"}, "compress a.png b.png -m {model} -o existing.txt",
        ("-o existing.txt is a file, not a folder",)),
    "-o x.aez for two inputs": CliCase(
        {"a.png": "image", "b.png": "image"}, "compress a.png b.png -m {model} -o x.aez",
        ("-o x.aez names one .aez file, but there are 2 inputs",)),
    "decompress a.aez -o a.aez": CliCase({"a.aez": "aez"}, "decompress a.aez -o a.aez", ("-o a.aez is a file, not a folder",)),
    "a --reference that is not there": CliCase(
        {"a.aez": "aez"}, "decompress a.aez -o out/deeper --reference nope.png", ("--reference nope.png: No such file",)),
    "one --reference image for two .aez files": CliCase(
        {"a.aez": "aez", "b.aez": "aez", "a.png": "image"}, "decompress a.aez b.aez -o out --reference a.png",
        ("--reference a.png is one image, but there are 2 .aez files",)),
    "an output folder with a NUL in its name": CliCase(
        {"a.png": "image"}, "compress a.png -m {model} -o 'new/a\x00b'", ("cannot create the output folder new/a",)),
    "nothing to write leaves no output folder": CliCase(
        {"bad.png": "text"}, "compress bad.png -m {model} -o new/deeper", ("bad.png: ",)),
    "an output folder nobody may write in": CliCase(
        {"a.png": "image", "b.png": "image"}, "compress a.png b.png -m {model} -o /sys",
        ("cannot write /sys/a.aez: Permission denied", "cannot write /sys/b.aez: Permission denied")),
    "an output folder that cannot be made": CliCase(
        {"a.png": "image"}, "compress a.png -m {model} -o /proc/nope/", ("cannot create the output folder /proc/nope",)),
    "a FIFO named on the command line": CliCase(
        {"pipe.png": "fifo", "a.png": "image"}, "compress pipe.png a.png -m {model} -o out",
        ("pipe.png: it is a FIFO (named pipe), not a regular file",), writes=("out/a.aez",)),
    "/dev/zero named on the command line": CliCase(
        {"a.aez": "aez"}, "decompress /dev/zero a.aez -o out",
        ("/dev/zero: it is a character device, not a regular file",), writes=("out/a.png",)),
    "a folder of odd .aez files beside good ones": CliCase(
        _ODD_AEZ_FOLDER, "decompress codes -o out",
        ("codes/fifo.aez: it is a FIFO (named pipe), not a regular file; skipped", "codes/gone.aez: a broken link",
         "codes/loop1.aez: Too many levels of symbolic links", "codes/loop2.aez: Too many levels of symbolic links",
         "codes/sub.aez: it is a folder, not a regular file; skipped",
         "codes/zero.aez: it is a character device, not a regular file; skipped",
         "codes/huge.aez: not an .aez file (wrong magic bytes)",
         "codes/padded.aez: the file goes on past the"),
        writes=("out/a.png", "out/z.png")),
    "a folder of images with a FIFO and a broken link": CliCase(
        {"trip/a.png": "image", "trip/b.png": "fifo", "trip/c.png": "link:nowhere.png"}, "compress trip -m {model} -o out",
        ("trip/b.png: it is a FIFO (named pipe), not a regular file; skipped", "trip/c.png: a broken link"),
        writes=("out/a.aez",)),
    "an empty folder to compress": CliCase({"empty/notes.txt": "text"}, "compress empty -m {model} -o out",
                                           ("empty: no images (.png",)),
    "an empty folder to decompress": CliCase({"empty/notes.txt": "text"}, "decompress empty -o out",
                                             ("empty: no .aez files in this folder",)),
}
