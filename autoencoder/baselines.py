"""What a model has to beat, with real bytes: JPEG, WebP and AVIF through Pillow, JPEG XL
through imagecodecs' libjxl (the one table of codecs). The other baseline, block-PCA, is in `pca`.

Every codec writes a real file in memory and reads it back with the same library; its bytes
are that file's length. A codec whose library is missing here (JPEG XL needs imagecodecs;
AVIF a Pillow built with it) is left out of CODECS, with the reason in UNAVAILABLE, so every
table, chart and app tab that iterates CODECS skips it. Which codecs run is found on first use
of CODECS or UNAVAILABLE (a tiny encode and decode each), not when the module is imported.
"""

from __future__ import annotations

import functools
import importlib
import io
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import numpy as np
from PIL import Image, features


@dataclass(frozen=True)
class Codec:
    """One classical codec: how it is named and drawn, its settings, and how it codes. Images
    are RGB uint8 (H, W, 3); quality is the codec's own 1…100 scale."""
    label: str  # the name people know it by
    colour: str  # its colour in every chart
    marker: str  # its marker shape in matplotlib charts (charts tell codecs apart by shape, not colour only)
    symbol: str  # the same shape in plotly charts
    settings: str  # the encoder settings in words: printed beside every table and chart of it
    qualities: tuple[int, ...]  # its quality ladder: about 0.1–3 bpp on Kodak
    suffix: str  # its files' name ending, for downloads
    mime: str  # its files' media type
    module: str | None = None  # a module it needs beyond Pillow (None: Pillow's own)
    install: str = ""  # what to install when it is missing

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def version(self) -> str:
        """The library behind it, for the record of a measurement."""
        raise NotImplementedError


@dataclass(frozen=True)
class PillowCodec(Codec):
    pillow_format: str = ""  # Pillow's name for its encoder and decoder
    feature: str = ""  # PIL.features name of the library behind it
    options: dict = field(default_factory=dict)  # Pillow save() keywords besides quality

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=self.pillow_format, quality=quality, **self.options)
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data), formats=[self.pillow_format]) as decoded:
            return np.array(decoded.convert("RGB"))  # writable: torch warns on read-only arrays

    def version(self) -> str:
        return f"{self.feature} {features.version(self.feature)}"


@dataclass(frozen=True)
class JpegXlCodec(Codec):
    """libjxl through imagecodecs (BSD-3-Clause), lossy VarDCT at libjxl's quality scale."""
    effort: int = 7

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        import imagecodecs

        return bytes(imagecodecs.jpegxl_encode(np.ascontiguousarray(image), level=quality, effort=self.effort))

    def decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        pixels = imagecodecs.jpegxl_decode(data)
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise ValueError(f"a JPEG XL file of RGB uint8 was expected, got {pixels.dtype} {pixels.shape}")
        return np.array(pixels)

    def version(self) -> str:
        import imagecodecs

        try:
            return f"{imagecodecs.jpegxl_version()} via imagecodecs {version('imagecodecs')}"
        except PackageNotFoundError:
            return imagecodecs.jpegxl_version()


# The one table of codecs, in chart and table order. JPEG and WebP keep Pillow's defaults (the
# settings every earlier result used); AVIF and JPEG XL use what a careful user would pick:
# full-resolution chroma and libaom's default speed, libjxl's default effort.
ALL_CODECS: dict[str, Codec] = {
    "jpeg": PillowCodec("JPEG", "#1f77b4", "s", "square", "4:2:0 chroma, standard Huffman tables (Pillow's defaults)",
                        (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95), ".jpg", "image/jpeg", pillow_format="JPEG",
                        feature="libjpeg_turbo"),
    "webp": PillowCodec("WebP", "#2ca02c", "^", "triangle-up", "lossy, 4:2:0, method 4 (Pillow's defaults)",
                        (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95), ".webp", "image/webp", pillow_format="WEBP",
                        feature="webp"),
    "avif": PillowCodec("AVIF", "#ff7f0e", "P", "cross", "4:4:4 chroma, libaom speed 6",
                        (1, 10, 20, 30, 40, 45, 50, 55, 60, 70, 80, 90, 94), ".avif", "image/avif",
                        install="pillow>=11.3, whose wheels have AVIF built in", pillow_format="AVIF", feature="avif",
                        options={"subsampling": "4:4:4", "speed": 6, "codec": "aom"}),
    "jxl": JpegXlCodec("JPEG XL", "#17becf", "X", "x", "lossy (VarDCT), effort 7",
                       (1, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 95), ".jxl", "image/jxl", module="imagecodecs",
                       install="imagecodecs", effort=7),
}
CODEC_QUALITIES = ALL_CODECS["jpeg"].qualities  # JPEG's and WebP's ladder
SEARCH_QUALITIES = (1, 95)  # best_within_bytes searches this range of every codec


def unavailable_reason(codec: Codec) -> str | None:
    """Why `codec` cannot run here ("JPEG XL unavailable: install imagecodecs"), or None when
    it encodes and decodes a tiny image."""
    try:
        if codec.module:
            importlib.import_module(codec.module)
        codec.decode(codec.encode(np.zeros((16, 16, 3), np.uint8), codec.qualities[0]))
    except Exception as e:  # any failure, ImportError or a Pillow built without the encoder, means the same
        return f"{codec.label} unavailable: install {codec.install} ({type(e).__name__}: {e})"
    return None


@functools.cache
def _probe() -> tuple[dict[str, Codec], dict[str, str]]:
    """(the codecs that run here, the others with why), in ALL_CODECS order: probed once per process."""
    unavailable = {name: reason for name, c in ALL_CODECS.items() if (reason := unavailable_reason(c))}
    return {name: c for name, c in ALL_CODECS.items() if name not in unavailable}, unavailable


def __getattr__(name: str):
    """CODECS (the codecs that run here) and UNAVAILABLE (codec → why not), probed on first use."""
    if name == "CODECS":
        return _probe()[0]
    if name == "UNAVAILABLE":
        return _probe()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def describe(codec: str) -> str:
    """'AVIF: 4:4:4 chroma, libaom speed 6 (avif 1.4.2)': what a chart or table prints."""
    c = ALL_CODECS[codec]
    return f"{c.label}: {c.settings} ({c.version()})"


@dataclass
class Encoded:
    codec: str
    quality: int
    num_bytes: int
    decoded: np.ndarray  # uint8 (H, W, 3)
    data: bytes = b""  # the file itself (num_bytes long)
    encode_s: float = 0.0  # wall seconds of Pillow's save, then of its open and decode
    decode_s: float = 0.0


def encode(image: np.ndarray, codec: str, quality: int) -> bytes:
    """The codec's file of `image` (uint8 (H, W, 3)) at `quality`, with the settings of its row in CODECS."""
    return _probe()[0][codec].encode(image, quality)


def decode(data: bytes, codec: str) -> np.ndarray:
    """A file of `codec`, read back by the same library that wrote it: uint8 (H, W, 3)."""
    return _probe()[0][codec].decode(data)


def pillow_roundtrip(image: np.ndarray, codec: str, quality: int) -> Encoded:
    """Encode at `quality` into a real file, decode it back; the bytes are the file's length."""
    started = time.perf_counter()
    data = encode(image, codec, quality)
    encoded = time.perf_counter()
    pixels = decode(data, codec)
    return Encoded(codec, quality, len(data), pixels, data, encoded - started, time.perf_counter() - encoded)


def codec_ladder(image: np.ndarray, codec: str, qualities=None) -> list[Encoded]:
    """The codec's files of `image` at `qualities` (default: its own ladder)."""
    return [pillow_roundtrip(image, codec, q) for q in (_probe()[0][codec].qualities if qualities is None else qualities)]


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
