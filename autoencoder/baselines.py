"""What a model has to beat, with real bytes: JPEG, WebP, AVIF and JPEG XL through Pillow (the
one table of codecs). The other baseline, block-PCA, is in `pca`.

Every codec writes a real file in memory and reads it back through the same Pillow plugin; its
bytes are that file's length. A codec whose plugin is missing here (JPEG XL needs
pillow-jxl-plugin; AVIF a Pillow built with it) is left out of CODECS, with the reason in
UNAVAILABLE, so every table, chart and app tab that iterates CODECS skips it.
"""

from __future__ import annotations

import importlib
import io
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import numpy as np
from PIL import Image, features


@dataclass(frozen=True)
class Codec:
    label: str  # the name people know it by
    pillow_format: str  # Pillow's name for its encoder and decoder
    colour: str  # its colour in every chart
    marker: str  # its marker shape in matplotlib charts (charts tell codecs apart by shape, not colour only)
    symbol: str  # the same shape in plotly charts
    settings: str  # the encoder settings in words: printed beside every table and chart of it
    qualities: tuple[int, ...]  # its quality ladder: about 0.1–3 bpp on Kodak
    options: dict = field(default_factory=dict)  # Pillow save() keywords besides quality
    plugin: str | None = None  # the module that registers the format with Pillow (None: Pillow's own)
    install: str = ""  # what to install when it is missing

    def save_options(self, quality: int) -> dict:
        """How to encode at `quality`: the keywords of Pillow's `Image.save`."""
        return {"format": self.pillow_format, "quality": quality, **self.options}


# The one table of codecs, in chart and table order. JPEG and WebP keep Pillow's defaults (the
# settings every earlier result used); AVIF and JPEG XL use what a careful user would pick:
# full-resolution chroma and libaom's default speed, libjxl's default effort.
ALL_CODECS: dict[str, Codec] = {
    "jpeg": Codec("JPEG", "JPEG", "#1f77b4", "s", "square", "4:2:0 chroma, standard Huffman tables (Pillow's defaults)",
                  (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
    "webp": Codec("WebP", "WEBP", "#2ca02c", "^", "triangle-up", "lossy, 4:2:0, method 4 (Pillow's defaults)",
                  (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
    "avif": Codec("AVIF", "AVIF", "#ff7f0e", "P", "cross", "4:4:4 chroma, libaom speed 6",
                  (1, 10, 20, 30, 40, 45, 50, 55, 60, 70, 80, 90, 94),
                  {"subsampling": "4:4:4", "speed": 6, "codec": "aom"}, install="pillow>=11.3, whose wheels have AVIF built in"),
    "jxl": Codec("JPEG XL", "JXL", "#17becf", "X", "x", "lossy (VarDCT), effort 7",
                 (1, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 95), {"effort": 7}, plugin="pillow_jxl",
                 install="pillow-jxl-plugin"),
}
CODEC_QUALITIES = ALL_CODECS["jpeg"].qualities  # JPEG's and WebP's ladder
SEARCH_QUALITIES = (1, 95)  # best_within_bytes searches this range of every codec


def unavailable_reason(codec: Codec) -> str | None:
    """Why `codec` cannot run here ("JPEG XL unavailable: install pillow-jxl-plugin"), or None
    when it encodes and decodes a tiny image through its plugin."""
    try:
        if codec.plugin:
            importlib.import_module(codec.plugin)
        tiny = np.zeros((16, 16, 3), np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(tiny).save(buffer, **codec.save_options(codec.qualities[0]))
        Image.open(io.BytesIO(buffer.getvalue()), formats=[codec.pillow_format]).load()
    except Exception as e:  # any failure, ImportError or a Pillow built without the encoder, means the same
        return f"{codec.label} unavailable: install {codec.install} ({type(e).__name__}: {e})"
    return None


UNAVAILABLE: dict[str, str] = {name: reason for name, c in ALL_CODECS.items() if (reason := unavailable_reason(c))}
CODECS: dict[str, Codec] = {name: c for name, c in ALL_CODECS.items() if name not in UNAVAILABLE}  # those that run here


def encoder_version(codec: str) -> str:
    """The library (and plugin) version behind `codec`, for the record of a measurement."""
    if codec == "jxl":
        try:
            return f"libjxl via pillow-jxl-plugin {version('pillow-jxl-plugin')}"
        except PackageNotFoundError:
            return "pillow-jxl-plugin not installed"
    if codec == "avif":
        return f"libavif {features.version('avif')}"
    if codec == "jpeg":
        return f"libjpeg-turbo {features.version('libjpeg_turbo')}"
    return f"libwebp {features.version('webp')}"


def describe(codec: str) -> str:
    """'AVIF: 4:4:4 chroma, libaom speed 6 (libavif 1.4.2)': what a chart or table prints."""
    c = ALL_CODECS[codec]
    return f"{c.label}: {c.settings} ({encoder_version(codec)})"


@dataclass
class Encoded:
    codec: str
    quality: int
    num_bytes: int
    decoded: np.ndarray  # uint8 (H, W, 3)
    encode_s: float = 0.0  # wall seconds of Pillow's save, then of its open and decode
    decode_s: float = 0.0


def encode(image: np.ndarray, codec: str, quality: int) -> bytes:
    """The codec's file of `image` (uint8 (H, W, 3)) at `quality`, with the settings of its row in CODECS."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, **CODECS[codec].save_options(quality))
    return buffer.getvalue()


def decode(data: bytes, codec: str) -> np.ndarray:
    """A file of `codec`, read back through the same Pillow plugin that wrote it: uint8 (H, W, 3)."""
    with Image.open(io.BytesIO(data), formats=[CODECS[codec].pillow_format]) as decoded:
        return np.array(decoded.convert("RGB"))  # writable: torch warns on read-only arrays


def pillow_roundtrip(image: np.ndarray, codec: str, quality: int) -> Encoded:
    """Encode at `quality` into a real file, decode it back; the bytes are the file's length."""
    started = time.perf_counter()
    data = encode(image, codec, quality)
    encoded = time.perf_counter()
    pixels = decode(data, codec)
    return Encoded(codec, quality, len(data), pixels, encoded - started, time.perf_counter() - encoded)


def codec_ladder(image: np.ndarray, codec: str, qualities=None) -> list[Encoded]:
    """The codec's files of `image` at `qualities` (default: its own ladder)."""
    return [pillow_roundtrip(image, codec, q) for q in (CODECS[codec].qualities if qualities is None else qualities)]


def best_within_bytes(image: np.ndarray, codec: str, budget: int) -> Encoded | None:
    """The highest quality (1…95) whose file fits in `budget` bytes; None if even quality 1 does not.

    File size grows with quality almost everywhere, so a binary search finds it in ~7 encodes.
    """
    (low, high), best = SEARCH_QUALITIES, None
    while low <= high:
        mid = (low + high) // 2
        encoded = pillow_roundtrip(image, codec, mid)
        if encoded.num_bytes <= budget:
            best, low = encoded, mid + 1
        else:
            high = mid - 1
    return best
