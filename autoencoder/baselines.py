"""What a model has to beat, with real bytes: Pillow's JPEG and WebP (the one table of codecs).
The other baseline, block-PCA, is in `pca`."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image


CODEC_QUALITIES = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)


@dataclass(frozen=True)
class Codec:
    label: str  # the name people know it by
    pillow_format: str  # Pillow's name for its encoder
    colour: str  # its colour in every chart


CODECS = {"jpeg": Codec("JPEG", "JPEG", "#1f77b4"), "webp": Codec("WebP", "WEBP", "#2ca02c")}  # the one table of codecs


@dataclass
class Encoded:
    codec: str
    quality: int
    num_bytes: int
    decoded: np.ndarray  # uint8 (H, W, 3)


def pillow_roundtrip(image: np.ndarray, codec: str, quality: int) -> Encoded:
    """Encode with Pillow at `quality` (4:2:0 chroma for JPEG, as its default), decode back."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=CODECS[codec].pillow_format, quality=quality)
    data = buffer.getvalue()
    decoded = np.array(Image.open(io.BytesIO(data)).convert("RGB"))  # writable: torch warns on read-only arrays
    return Encoded(codec, quality, len(data), decoded)


def codec_ladder(image: np.ndarray, codec: str, qualities=CODEC_QUALITIES) -> list[Encoded]:
    return [pillow_roundtrip(image, codec, q) for q in qualities]


def best_within_bytes(image: np.ndarray, codec: str, budget: int) -> Encoded | None:
    """The highest quality (1…95) whose file fits in `budget` bytes; None if even quality 1 does not.

    File size grows with quality almost everywhere, so a binary search finds it in ~7 encodes.
    """
    low, high, best = 1, 95, None
    while low <= high:
        mid = (low + high) // 2
        encoded = pillow_roundtrip(image, codec, mid)
        if encoded.num_bytes <= budget:
            best, low = encoded, mid + 1
        else:
            high = mid - 1
    return best
