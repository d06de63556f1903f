"""The two sides of the swipe comparison, without Streamlit: what a side can be (the original,
a model, or a classical codec from `baselines.CODECS` at a chosen quality or within a model's
bytes) and the numbers its label shows: the file's bytes, PSNR against the original, and the
change in size against the original file ("−89 %"), which is the uploaded file when the model
sees exactly its pixels and the raw 24-bit pixels otherwise.

A side's choice is a short string, so a widget can hold it: "original", "current" (the
slider's model), "model:<id>" or "codec:<key of baselines.CODECS>".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from autoencoder import baselines
from autoencoder.baselines import SEARCH_QUALITIES, Encoded
from autoencoder.pipeline import TILE, Analysis, score
from explorer.report import RAW_BITS_PER_PIXEL, ModelCard

ORIGINAL, CURRENT, MODEL, CODEC = "original", "current", "model:", "codec:"
DEFAULT_QUALITY = 75  # a codec side's quality until its slider moves (Squoosh starts JPEG and WebP here too)


# ---------------------------------------------------------------------------------------
# What a side can be

def fits(card: ModelCard, height: int, width: int) -> bool:
    """Whether the model can code an image of this size as it is: conv and codec models take any
    size, dense models whole 64×64 tiles."""
    return card.any_size or (height % TILE == 0 and width % TILE == 0)


def choices(model_ids: Iterable[str], codecs: Iterable[str]) -> list[str]:
    return [ORIGINAL, CURRENT, *(MODEL + m for m in model_ids), *(CODEC + c for c in codecs)]


def default_quality() -> int:
    low, high = SEARCH_QUALITIES
    return min(max(DEFAULT_QUALITY, low), high)


# ---------------------------------------------------------------------------------------
# The original file the sizes are compared with

@dataclass(frozen=True)
class Reference:
    raw_bytes: int  # the pixels as plain 8-bit RGB
    file_name: str | None = None  # the uploaded file, when the model sees exactly its pixels
    file_bytes: int | None = None

    @property
    def num_bytes(self) -> int:
        """What "−N %" is taken against: the uploaded file when known, else the raw pixels."""
        return self.file_bytes if self.file_bytes is not None else self.raw_bytes


def reference_of(image: np.ndarray, upload: tuple[str, int] | None = None) -> Reference:
    """image: the pixels every side shows; upload: (name, bytes) of the uploaded file when
    `image` is exactly its pixels (not resized or cropped)."""
    h, w = image.shape[:2]
    raw = h * w * RAW_BITS_PER_PIXEL // 8
    return Reference(raw, *upload) if upload else Reference(raw)


def size_change(num_bytes: int, reference_bytes: int) -> float:
    """The change in size in percent: −89.0 for a file of 11 % of the reference's bytes."""
    return 100 * (num_bytes / reference_bytes - 1)


def change_text(percent: float) -> str:
    """'−89 %', '+12 %'; one decimal where whole percents would hide the difference: near 0
    (+0.4 %) and near −100 (−99.6 %, cut, never rounded, to −100)."""
    magnitude = abs(percent)
    if percent < -99:
        shown, digits = math.floor(magnitude * 10) / 10, 1
    else:
        digits = 1 if magnitude < 1 else 0
        shown = round(magnitude, digits)
    if shown == 0:
        return "0 %"
    return f"{'−' if percent < 0 else '+'}{shown:.{digits}f} %"


def psnr_text(psnr: float) -> str:
    return "lossless" if math.isinf(psnr) else f"{psnr:.2f} dB"


# ---------------------------------------------------------------------------------------
# One side: what it is, its file and its numbers

@dataclass(frozen=True)
class Side:
    title: str  # what it is: "Original", "conv-c16", "JPEG q 42"
    num_bytes: int  # its file: the original's reference, the model's bytes, the codec's file
    psnr: float | None  # against the original; None for the original itself
    alt: str  # the picture's alt text
    suffix: str  # of the file a download writes: ".png", ".aez", ".jpg", …
    mime: str
    file_words: str = ""  # what its download is
    note: str | None = None  # how it was chosen, in words ("the best JPEG within conv-c16's 12,345 B")

    def label(self, reference: Reference) -> str:
        """The words on the picture: what, PSNR, bytes and the change against the original file."""
        if self.psnr is None:
            return (f"{self.title} · {reference.file_name} · {self.num_bytes:,} B" if reference.file_name
                    else f"{self.title} · {self.num_bytes:,} B raw")
        return (f"{self.title} · {psnr_text(self.psnr)} · {self.num_bytes:,} B · "
                f"{change_text(size_change(self.num_bytes, reference.num_bytes))}")

    def facts(self, reference: Reference) -> str:
        """The longer line beside its control: both sizes it is compared with."""
        if self.psnr is None:
            raw = f"raw {RAW_BITS_PER_PIXEL}-bit pixels: {reference.raw_bytes:,} B"
            return f"{reference.file_name}: {reference.file_bytes:,} B (as {raw})" if reference.file_name else f"As {raw}"
        against = [f"{change_text(size_change(self.num_bytes, reference.raw_bytes))} against the raw pixels"]
        if reference.file_bytes is not None:
            against.insert(0, f"{change_text(size_change(self.num_bytes, reference.file_bytes))} against "
                              f"{reference.file_name}")
        return f"{self.num_bytes:,} B · PSNR {psnr_text(self.psnr)} · " + " · ".join(against)


def original_side(image: np.ndarray, reference: Reference) -> Side:
    h, w = image.shape[:2]
    return Side("Original", reference.num_bytes, None, f"The original image, {w}×{h} pixels", ".png", "image/png",
                "The pixels every side is scored against, as a lossless PNG")


def model_side(analysis: Analysis, title: str | None = None) -> Side:
    """A model's result: its real bytes (the 8-bit latent, or the whole .aez file) and PSNR; the
    download is the .aez file where there is one, else the reconstruction as PNG. title: what
    it is called (default: the model's id; a codec file at another step says so)."""
    title = title or analysis.model_id
    if analysis.file is not None:
        what, suffix, mime = f"Decoded from the {analysis.num_bytes:,} B .aez file", ".aez", "application/octet-stream"
        file = f"The {analysis.num_bytes:,} B .aez file itself (the Files tab decodes it)"
    else:
        what, suffix, mime = "Reconstruction from the 8-bit latent", ".png", "image/png"
        file = ("The reconstruction as a lossless PNG: this model writes no file of its own "
                f"(its {analysis.num_bytes:,} B are the 8-bit latent, in the Files tab)")
    return Side(title, analysis.num_bytes, analysis.scores["psnr"],
                f"{what} of {title}, {analysis.num_bytes:,} bytes", suffix, mime, file)


def codec_side(original: np.ndarray, encoded: Encoded, note: str | None = None) -> Side:
    """A classical codec's file (baselines.pillow_roundtrip) scored against the original."""
    name = baselines.CODECS[encoded.codec].label
    return Side(f"{name} q {encoded.quality}", encoded.num_bytes, score(original, encoded.decoded, full=False)["psnr"],
                f"{name} file at quality {encoded.quality}, {encoded.num_bytes:,} bytes, decoded",
                baselines.CODECS[encoded.codec].suffix, baselines.CODECS[encoded.codec].mime, f"The {name} file itself, {encoded.num_bytes:,} B",
                note)
