"""Images in and out: robust decoding of anything a user uploads, folders of training or
evaluation images, seeded random multi-scale crops, and the bundled gallery.

Every image leaves this module as RGB: a uint8 numpy array (H, W, 3) or a float tensor
(B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import functools
import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .files import read_regular_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
ACCEPTED = "PNG, JPEG, WebP, BMP, GIF or TIFF"
PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # the only decoders opened: ACCEPTED, by Pillow's names
MAX_DECODE_PIXELS = 50_000_000  # refuse to decode more than this (decompression bombs)
MAX_DECODE_MB = 160  # decoded pixel data per image: 50 MP of 8-bit RGB is 150 MB
MAX_ASPECT_RATIO = 32  # a 32:1 panorama is fine; a 10000×2 strip is not a picture
MIN_SIDE = 2  # a 1-pixel-wide image has nothing to reconstruct
MAX_FILE_BYTES = 200_000_000  # bytes of one image file: room for MAX_DECODE_MB stored uncompressed (TIFF, BMP)
MAX_JPEG_SCANS = 64  # libjpeg's progressive files have 10 scans (6 grey), Photoshop's 3–5, mozjpeg's about 10
MAX_PNG_CHUNK_BYTES = 8 * 1024 * 1024  # PNG text and colour-profile chunks (see _allow_large_profiles)
_FILE_LIMIT = f"image files of at most {MAX_FILE_BYTES / 1e6:g} MB are accepted"
_PIXEL_LIMIT = f"at most {MAX_DECODE_PIXELS:,} pixels ({MAX_DECODE_PIXELS / 1e6:g} megapixels) are accepted"


class ImageError(ValueError):
    """An input that is not a usable image; the message says what is wrong and what works."""


# ---------------------------------------------------------------------------------------
# Decoding

def _float_top(a: np.ndarray) -> float:
    """The value a float or 32-bit integer image means as full white: 1.0 for images in 0…1
    (a few stray values above 1 are clipped, not taken as a sign of 0…255), 255 for images in
    0…255, 65535 for 16-bit data stored wider, else the largest value. Read from a sample of
    at most ~1 M values, so a 50-megapixel float image costs no sorted copy of itself."""
    sample = a.reshape(-1)[:: max(1, a.size // 1_000_000)].astype(np.float64)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return 1.0
    high = float(np.percentile(finite, 99.9))
    for scale in (1.0, 255.0, 65535.0):
        if high <= scale * 1.01:
            return scale
    return float(finite.max())


def _scaled_to_8_bits(img: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float single-channel image → 8-bit L, scaled (not clipped,
    as Pillow's convert would), NaN as black."""
    a = np.asarray(img)
    return _to_8_bits(a, 0.0, 65535.0 if img.mode.startswith("I;16") else _float_top(a))


def _to_8_bits(a: np.ndarray, black: float, white: float) -> Image.Image:
    """Samples from black…white → 8-bit L (NaN as black), converted 256 rows at a time, so the
    float temporaries stay small whatever the image's size."""
    out = np.empty(a.shape, dtype=np.uint8)
    scale = np.float32(255.0 / (white - black))
    for row in range(0, a.shape[0], 256):
        block = (a[row : row + 256].astype(np.float32) - np.float32(black)) * scale + np.float32(0.5)
        out[row : row + 256] = np.clip(np.nan_to_num(block, nan=0.0), 0, 255)
    return Image.fromarray(out, mode="L")


def _integer_samples(img: Image.Image) -> tuple[bool, int] | None:
    """(signed, bits) of a TIFF whose integer samples Pillow widens or wraps: signed 8, 16 or
    32-bit (int8 comes as wrapped bytes, int16 widened to 32 bits) and unsigned 32-bit (read as
    signed, so the upper half wraps negative); None for every other image. ImageError for a
    signed sample type in a mode this module cannot read back."""
    if img.format != "TIFF":
        return None
    sample_format, bits = (v[0] if isinstance(v, tuple) else v
                           for v in (img.tag_v2.get(339, 1), img.tag_v2.get(258, 8)))
    if sample_format == 2:
        if (img.mode, bits) in (("L", 8), ("I", 16), ("I", 32)):
            return True, bits
        raise ImageError(f"this TIFF holds signed {bits}-bit samples read as {img.mode}, which is not supported; "
                         "8 or 16-bit unsigned, signed single-channel, or 32-bit float TIFFs are")
    return (False, 32) if (sample_format, bits, img.mode) == (1, 32, "I") else None


def _integer_to_8_bits(img: Image.Image, signed: bool, bits: int) -> Image.Image:
    """Integer TIFF samples → 8-bit L: signed types by their whole range (the lowest value
    black, the highest white, 0 mid-grey); unsigned 32-bit read back as unsigned and scaled
    like a float image (full white at 255, 65535 or the largest value)."""
    a = np.asarray(img)
    if not signed:
        a = a.view(np.uint32)
        return _to_8_bits(a, 0.0, _float_top(a))
    if bits == 8:
        a = a.view(np.int8)
    return _to_8_bits(a, -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)


def _to_rgb(img: Image.Image, integer: tuple[bool, int] | None = None) -> Image.Image:
    """Any Pillow mode → 8-bit RGB: alpha composited on white, 16-bit, 32-bit and float scaled
    (NaN as black), `integer` TIFF samples (_integer_samples) by their type, CMYK converted, an
    embedded ICC profile converted to sRGB."""
    if integer is not None:
        img = _integer_to_8_bits(img, *integer)
    elif img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        img = _scaled_to_8_bits(img)
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "RGBA", "L", "CMYK"):
        img = _to_srgb(img, icc)
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img if img.mode == "RGB" else img.convert("RGB")


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Pixels in an embedded colour profile → sRGB, as a browser shows them. A profile that
    littleCMS cannot read is ignored (the pixels are kept as they are)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if img.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img


_JPEG_END = b"\xff\xd9"


def _read_bytes(source: bytes | str | Path | io.IOBase) -> bytes:
    """A path is opened once, checked to be a regular file and read up to MAX_FILE_BYTES
    (files.read_regular_file: OSError says why not); a file object is read up to that bound."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, (str, Path)):
        return read_regular_file(source, MAX_FILE_BYTES)
    data = source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"the file is over {MAX_FILE_BYTES:,} bytes; {_FILE_LIMIT}")
    return data


_SCAN_MARKERS = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")  # the next marker after entropy-coded data


def jpeg_scans(data: bytes, stop_after: int = MAX_JPEG_SCANS) -> int:
    """The number of scans (SOS markers) in a JPEG's first picture, counted by walking its
    marker segments, not by searching the bytes (an EXIF thumbnail or a profile can hold
    FF DA too); counting stops at stop_after + 1. A file whose markers cannot be followed
    returns what was counted: the decoder then says what is wrong with it."""
    at, count, end = 2, 0, len(data)
    while at + 4 <= end and count <= stop_after:
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:  # end of the (first) picture: an MPO's other pictures are never decoded
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker == 0xDA:
            count += 1
            found = _SCAN_MARKERS.search(data, at)
            if found is None:
                break
            at = found.end() - 2
    return count


def check_jpeg_scans(data: bytes) -> None:
    """Refuse a JPEG with more than MAX_JPEG_SCANS scans: each scan makes the decoder walk every
    block of the picture again (~35 ms for 50 megapixels here), and a repeated scan costs a
    few bytes, so a small file could otherwise hold a core for hours."""
    scans = jpeg_scans(data)
    if scans > MAX_JPEG_SCANS:
        raise ImageError(f"the JPEG has more than {MAX_JPEG_SCANS} scans (progressive passes); at most "
                         f"{MAX_JPEG_SCANS} are accepted (encoders write 3 to 12; a file with hundreds is made "
                         "to tie up the decoder)")


@functools.cache
def _allow_large_profiles() -> None:
    """Pillow refuses PNG text and colour-profile chunks over 1 MB by default (a guard against
    zlib bombs); camera and print workflows embed ICC profiles of a few MB. 8 MB keeps the
    guard. Pillow's setting is process-wide: it is raised (never lowered) once, at the first
    decode, not when this module is imported."""
    PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, MAX_PNG_CHUNK_BYTES)


def decode_image(source: bytes | str | Path | io.IOBase, max_side: int | None = None) -> np.ndarray:
    """Decode an image file (path, bytes or file object) to RGB uint8 (H, W, 3).

    Only ACCEPTED formats are opened (whatever the file is called). EXIF orientation is
    applied; palette, alpha, CMYK, grayscale, 16-bit and float images are converted, embedded
    colour profiles to sRGB; animated files give their first frame; a JPEG that lacks only its
    end marker is read as every viewer reads it. Sizes are checked from the header, before
    any pixel is decoded: at most MAX_DECODE_PIXELS pixels and MAX_DECODE_MB of decoded data.

    max_side: the caller needs no more than this many pixels on the longest side (the app: its
    models see at most 1024); a JPEG is then decoded at 1/2, 1/4 or 1/8 scale straight from
    its data (Pillow's draft mode), which is how a 20 KB file claiming 8000×6000 costs little.
    Raises ImageError with a message fit to show a user for anything that is not a usable picture.
    """
    _allow_large_profiles()
    data = _read_bytes(source)
    try:
        return _decode(data, max_side)
    except ImageError as e:
        if "truncated" not in str(e) or data[:2] != b"\xff\xd8" or data.endswith(_JPEG_END):
            raise
        # A JPEG that may lack only its end marker: read it with the marker added. Where data
        # is missing too, libjpeg fills the missing blocks with flat grey (128), so a flat grey
        # last block means a file cut short, which stays refused.
        image = _decode(data + _JPEG_END, max_side)
        if (image[-8:, -8:] == 128).all() and not (image == 128).all():
            raise
        return image


def _decode(data: bytes, max_side: int | None) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP and refuses from 179 MP in its own words; the size check
            # below refuses from MAX_DECODE_PIXELS in ours, so its warning is not needed.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)
            check_size(*img.size)
            check_decoded_bytes(img)
            is_jpeg = img.format in ("JPEG", "MPO")  # MPO: a camera's multi-picture JPEG, read as its first
            if is_jpeg:
                check_jpeg_scans(data)
            if max_side is not None and is_jpeg and max(img.size) > max_side:
                scale = max(img.size) / max_side  # draft keeps every side ≥ the requested one
                img.draft(img.mode, (math.ceil(img.size[0] / scale), math.ceil(img.size[1] / scale)))
            img.seek(0)
            img.load()
            integer = _integer_samples(img)  # read from the TIFF's tags, which a rotated copy has not
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img, integer)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        # Raised by Image.open before it returns the image, so the size is only in its message.
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(pixels.group(1)):,} pixels" if pixels else "more pixels than Pillow will open"
        raise ImageError(f"the image has {size}; {_PIXEL_LIMIT}") from e
    except UnidentifiedImageError as e:
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            raise ImageError("this TIFF's sample type cannot be read (signed or 32-bit integer colour is not "
                             "supported; 8 or 16-bit unsigned colour, and single-channel integer or float, are)") from e
        if not data:
            raise ImageError("the file is empty (0 bytes)") from e
        raise ImageError(f"this file is not an image in an accepted format ({ACCEPTED})") from e
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageError(f"the image file is damaged or truncated ({e}); accepted formats: {ACCEPTED}") from e
    return np.asarray(rgb, dtype=np.uint8).copy()


_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3,
                    "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4, "I": 4, "F": 4}


def check_decoded_bytes(img: Image.Image) -> None:
    """Refuse an image whose decoded pixels alone would exceed MAX_DECODE_MB (16-bit and float
    files hold 2–4× the bytes of an 8-bit one of the same size), from the header alone."""
    per_pixel = _BYTES_PER_PIXEL.get(img.mode, 2 if img.mode.startswith("I;16") else 8)
    megabytes = img.size[0] * img.size[1] * per_pixel / 1e6
    if megabytes > MAX_DECODE_MB:
        raise ImageError(f"the image is {img.size[0]}×{img.size[1]} {img.mode} pixels, {megabytes:,.0f} MB once "
                         f"decoded; at most {MAX_DECODE_MB} MB are accepted (an 8-bit RGB image of "
                         f"{MAX_DECODE_MB * 1e6 / 3 / 1e6:.0f} megapixels)")


def check_size(width: int, height: int) -> None:
    """Refuse sizes that are not a picture or too big to decode: empty, 1-pixel lines, absurd
    aspect ratios, more than MAX_DECODE_PIXELS."""
    if width * height > MAX_DECODE_PIXELS:
        raise ImageError(f"the image is {width}×{height} = {width * height:,} pixels; {_PIXEL_LIMIT}")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"the image is {width}×{height} pixels; both sides must be at least {MIN_SIDE}")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageError(
            f"the image is {width}×{height} pixels, wider than {MAX_ASPECT_RATIO}:1; "
            "crop it to something closer to a photograph"
        )


def limit_size(image: np.ndarray, max_side: int) -> tuple[np.ndarray, bool]:
    """Downscale (high-quality, aspect kept) so the longest side is ≤ max_side; says if it did."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image, False
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.array(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)), True  # writable


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """The centre square of an image, resized to size×size (the 64×64 'original notebook' view)."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    square = Image.fromarray(image[top : top + s, left : left + s])
    return np.array(square.resize((size, size), Image.Resampling.LANCZOS))  # writable, like decode_image


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) → float (1, 3, H, W) in [0, 1]."""
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:  # e.g. np.asarray of a PIL image, or a cached picture: torch warns on a view of it
        array = array.copy()
    return torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) or (3, H, W) → uint8 (H, W, 3), rounded and clamped like a saved PNG."""
    if x.ndim == 4:
        x = x[0]
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


# ---------------------------------------------------------------------------------------
# Folders

def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder of images: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def load_folder(folder: str | Path) -> list[np.ndarray]:
    return [decode_image(p) for p in list_images(folder)]


def split_train_val(files: list, val_every: int) -> tuple[list, list]:
    """Deterministic hold-out: every `val_every`-th file (by sorted name) validates; 0 = none."""
    if val_every <= 0:
        return list(files), []
    val = files[val_every - 1 :: val_every]
    return [f for f in files if f not in val], val


# ---------------------------------------------------------------------------------------
# Training crops

class RandomCrops:
    """Seeded random crops from a multi-scale pyramid of images, with horizontal flips.

    Each image is kept at every scale in `scales` (Lanczos-downscaled once, up front), so a
    crop shows the scene at several zoom levels: the model learns fine texture from full-scale
    crops and whole-object structure from downscaled ones.
    """

    def __init__(self, images: list[np.ndarray], crop: int, scales: tuple[float, ...], seed: int):
        self.crop = crop
        self.levels: list[torch.Tensor] = []  # each uint8 (3, H, W)
        for image in images:
            h, w = image.shape[:2]
            for s in scales:
                size = (round(w * s), round(h * s))
                if min(size) < crop:
                    continue
                level = image if s == 1 else np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
                self.levels.append(torch.from_numpy(np.array(level, dtype=np.uint8)).permute(2, 0, 1))
        if not self.levels:
            raise ValueError(f"no image is at least {crop}×{crop} at any scale in {scales}")
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, batch: int) -> torch.Tensor:
        """A float batch (batch, 3, crop, crop) in [0, 1]."""
        g, c = self.generator, self.crop
        out = torch.empty(batch, 3, c, c, dtype=torch.uint8)
        picks = torch.randint(len(self.levels), (batch,), generator=g).tolist()
        for i, k in enumerate(picks):
            level = self.levels[k]
            top = int(torch.randint(level.shape[1] - c + 1, (1,), generator=g))
            left = int(torch.randint(level.shape[2] - c + 1, (1,), generator=g))
            crop = level[:, top : top + c, left : left + c]
            out[i] = crop.flip(-1) if torch.rand((), generator=g) < 0.5 else crop
        return out.float() / 255.0


def fixed_crops(images: list[np.ndarray], crop: int, per_image: int, seed: int) -> torch.Tensor:
    """A deterministic validation batch: `per_image` full-scale crops from each image."""
    g = torch.Generator().manual_seed(seed)
    levels = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1) for im in images]
    return torch.cat([_crops_of(level, crop, per_image, g) for level in levels if min(level.shape[1:]) >= crop])


def _crops_of(level: torch.Tensor, crop: int, n: int, g: torch.Generator) -> torch.Tensor:
    tops = torch.randint(level.shape[1] - crop + 1, (n,), generator=g).tolist()
    lefts = torch.randint(level.shape[2] - crop + 1, (n,), generator=g).tolist()
    return torch.stack([level[:, t : t + crop, l : l + crop] for t, l in zip(tops, lefts)]).float() / 255.0


def tiles(image: np.ndarray, size: int) -> torch.Tensor:
    """All non-overlapping size×size tiles of an image, row-major: float (N, 3, size, size)."""
    x = to_tensor(image)[0]
    h, w = (x.shape[1] // size) * size, (x.shape[2] // size) * size
    x = x[:, :h, :w].unfold(1, size, size).unfold(2, size, size)  # (3, h/s, w/s, s, s)
    return x.permute(1, 2, 0, 3, 4).reshape(-1, 3, size, size)


# ---------------------------------------------------------------------------------------
# Gallery: sample photos that the installed scikit-image carries (no download, no ../shared).

@dataclass(frozen=True)
class GalleryImage:
    name: str
    loader: str  # function name in skimage.data
    credit: str


GALLERY = (
    GalleryImage("Astronaut", "astronaut", "Eileen Collins, NASA; public domain"),
    GalleryImage("Coffee", "coffee", "Rachel Michetti; CC0"),
    GalleryImage("Chelsea the cat", "chelsea", "Stefan van der Walt; CC0"),
    GalleryImage("Rocket launch", "rocket", "SpaceX (DSCOVR on Falcon 9); public domain"),
    GalleryImage("Hubble deep field", "hubble_deep_field", "NASA; public domain"),
    GalleryImage("Cameraman (grayscale)", "camera", "Lav Varshney; CC0"),
)


def gallery_names() -> list[str]:
    return [g.name for g in GALLERY]


def load_gallery_image(name: str) -> np.ndarray:
    """A bundled sample photo by its gallery name, as RGB uint8 (H, W, 3)."""
    import skimage.data  # imported here: only the gallery needs it, and it is slow to import

    entry = next((g for g in GALLERY if g.name == name), None)
    if entry is None:
        raise KeyError(f"no gallery image {name!r}; choose from {gallery_names()}")
    image = getattr(skimage.data, entry.loader)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))
