"""The odd inputs of issue 16, made here (no files are shipped for them): damaged manifests and
weight files, and odd image files, each with what must happen to it. Used by test_hardening
(the package) and test_app (the page).

A manifest case changes one model's entry, or the files beside it, in a copy of a working
weights folder, and names the words the refusal must contain. An image case is file bytes and
either the refusal's words or a check of the decoded picture.
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
    change: Callable[[Path, dict], None]  # (weights folder, the target entry) → changes it (or the folder) in place
    words: str  # what the refusal says
    at_load: bool = False  # True: the entry passes the schema and load_pretrained refuses it


def _set(**fields):
    return lambda folder, entry: entry.update(fields)


def _config(**fields):
    return lambda folder, entry: entry["config"].update(fields)


def _drop(key):
    return lambda folder, entry: entry.pop(key)


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
}

WHOLE_MANIFEST_CASES = {  # manifest.json text → the refusal's words
    "a JSON list": ("[1, 2, 3]", 'must be a JSON object with a "models" list'),
    "a string": ('"models"', 'must be a JSON object with a "models" list'),
    "models is a string": ('{"models": "conv-c4"}', 'must be a JSON object with a "models" list'),
    "not JSON": ("{models: [", "is not valid JSON"),
}


def break_model(folder: Path, model_id: str, case: ManifestCase) -> None:
    """Apply `case` to `model_id`'s entry in folder/manifest.json (and its files)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    entry = next(e for e in manifest["models"] if e["id"] == model_id)
    case.change(folder, entry)
    path.write_text(json.dumps(manifest))


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
    "1×1 pixel": ImageCase(lambda: encoded(Image.new("RGB", (1, 1), "red"), "PNG"), "both sides must be at least 2"),
    "2000×10 strip": ImageCase(lambda: encoded(Image.new("RGB", (2000, 10), "red"), "PNG"), "wider than 32:1"),
    "PPM renamed": _other_format("PPM"),
    "TGA renamed": _other_format("TGA"),
    "ICO renamed": _other_format("ICO"),
    "PCX renamed": _other_format("PCX"),
    "JPEG 2000 renamed": _other_format("JPEG2000"),
    "EPS renamed": ImageCase(lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
                             "not an image in an accepted format"),
}
