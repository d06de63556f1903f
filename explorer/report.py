"""What the app reports about images and models, without Streamlit and without drawing:
model cards for the slider, the image a model sees, uploads, the equal-bytes codec check, the
compare-all points, and the bytes to download. Drawing is in `views` and `figures`; running a
model on an image is `pipeline.analyse`.

Images are RGB uint8 numpy arrays (H, W, 3) throughout, as `data.decode_image` returns them.
Every number shown to a user comes from the package's one implementation of it:
`pipeline.score` (metrics.quality) for scores, `pipeline.Analysis.num_bytes` for sizes,
`baselines` for the classical codecs (JPEG, WebP, AVIF, JPEG XL), and for codec models `codec.compress` (the real .aez file and
the image it decodes to).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from autoencoder import aez, baselines, metrics, rate
from autoencoder.baselines import (
    Encoded,
    best_within_bytes,
    codec_ladder,
    pillow_roundtrip,
)
from autoencoder.codec import decompress
from autoencoder.data import (
    IMAGE_SUFFIXES,
    ImageError,
    center_square,
    decode_image,
    gallery_names,
    limit_size,
    to_uint8,
)
from autoencoder.manifest import (
    ModelEntry,
    WeightsError,
    model_entries,
    superseded,
    weights_dir,
)
from autoencoder.models import MODEL_FAMILIES, DenseConfig, Family
from autoencoder.pipeline import TILE, Analysis, crop_to_tiles, score

MAX_SIDE = 1024  # longest side a conv model sees in the app: a CPU laptop answers in about a second
NOTEBOOK_SIDE = DenseConfig().image_size  # 64: the original notebook's (and the dense models') size
AEZ_SUFFIX = "aez"
UPLOAD_TYPES = (*(s.lstrip(".") for s in IMAGE_SUFFIXES), AEZ_SUFFIX)  # an .aez file is decoded and shown
DEFAULT_IMAGE = gallery_names()[0]
KODAK_EVAL_FILE = "kodak-eval.json"
RAW_BITS_PER_PIXEL = 24  # an uncompressed 8-bit RGB pixel


# ---------------------------------------------------------------------------------------
# Models as the slider shows them (from the manifest alone: nothing is loaded)



@dataclass(frozen=True)
class ModelCard:
    id: str
    family: str
    sha256: str
    ratio: float  # input values per latent value
    nominal_bpp: float  # latent bits per pixel at 8 bits (side information left out); codec: mean file bpp on Kodak
    latent_text: str  # what the latent of a 64×64 patch looks like
    superseded_by: str | None = None  # the model that refines this one's entropy model (manifest.superseded): off the slider

    @property
    def kind(self) -> Family:
        """What its family does differently (autoencoder.models.MODEL_FAMILIES)."""
        return MODEL_FAMILIES[self.family]

    @property
    def any_size(self) -> bool:
        return self.kind.any_size

    @property
    def short_label(self) -> str:
        """For the slider's ends and thumb, where long text overlaps: 'conv-c16 · 12×', 'codec-c16-hp · 0.32 bpp'
        (a codec's mean on Kodak; slider_label gives this image's once it is known)."""
        return self.slider_label()

    def slider_label(self, bpp: float | None = None) -> str:
        """The slider's words: codec models by `bpp`, this image's measured bits per pixel where
        known ('codec-c16-hp · 0.240 bpp'), else their Kodak mean, marked '~' ('codec-c16-hp · ~0.32 bpp')."""
        if not self.kind.entropy_coded:
            return f"{self.id} · {self.ratio:.3g}×"
        if bpp is not None:
            return f"{self.id} · {bpp:.3f} bpp"
        return f"{self.id} · ~{self.nominal_bpp:.2f} bpp" if self.nominal_bpp else self.id

    @property
    def label(self) -> str:
        """The slider's words for this model, e.g. '12× · 8×8×16 latent per 64×64 px · 2 bpp at 8 bits'."""
        if self.kind.entropy_coded:
            rate = f"{self.nominal_bpp:.3g} bpp on Kodak (real files) · " if self.nominal_bpp else ""
            return f"{rate}{self.latent_text}"
        return f"{self.ratio:.3g}× · {self.latent_text} · {self.nominal_bpp:.3g} bpp at 8 bits"


def model_card(entry: ModelEntry, superseded_by: str | None = None) -> ModelCard:
    """A checked manifest entry → its card (its family says what its latent looks like)."""
    latent_text, bpp = entry.kind.describe(entry)
    return ModelCard(entry.id, entry.family, entry.sha256, float(entry.ratio), bpp, latent_text, superseded_by)


def model_cards(folder: Path | None = None, use: str = "compression") -> list[ModelCard]:
    """Every model in the manifest for `use` (manifest.USES), in its order (one manifest read)."""
    entries = model_entries(folder, use)
    newer = superseded(entries)
    return [model_card(entry, newer.get(entry.id)) for entry in entries]


def family_cards(cards: Sequence[ModelCard], family: str) -> list[ModelCard]:
    """One family's models on the bottleneck slider, from the widest bottleneck to the narrowest
    (left → right): codec models from the most bits per pixel to the fewest, less those another
    model refines (its twin with fewer bits takes its place)."""
    mine = [c for c in cards if c.family == family and not c.superseded_by]
    if MODEL_FAMILIES[family].entropy_coded:
        return sorted(mine, key=lambda c: (-c.nominal_bpp, c.id))
    return sorted(mine, key=lambda c: (c.ratio, c.id))


def default_card(cards: Sequence[ModelCard]) -> ModelCard:
    """The middle of the slider: neither a near-perfect copy nor a blur."""
    return cards[(len(cards) - 1) // 2]


# ---------------------------------------------------------------------------------------
# The image a model sees

@dataclass(frozen=True)
class ModelInput:
    image: np.ndarray  # uint8 (H, W, 3): exactly what the model encodes
    note: str | None  # what was done to the user's image, in words; None if nothing


def model_input(image: np.ndarray, any_size: bool, notebook: bool,
                original_size: tuple[int, int] | None = None) -> ModelInput:
    """The user's image → what a model sees: capped at MAX_SIDE for conv models, the centre
    square at 64×64 for dense models (and for any model in the 'notebook' view).
    original_size: (width, height) of the file, where `image` was already decoded smaller."""
    h, w = image.shape[:2]
    w0, h0 = original_size or (w, h)
    if notebook or not any_size:
        who = "Dense models see" if not any_size else "The notebook view shows"
        side = NOTEBOOK_SIDE
        return ModelInput(center_square(image, side),
                          f"{who} the centre square of the {w0}×{h0} image, resized to {side}×{side}.")
    capped, downscaled = limit_size(image, MAX_SIDE)
    if not downscaled and (w0, h0) == (w, h):
        return ModelInput(image, None)
    return ModelInput(capped, f"The image is {w0}×{h0}; the model sees it downscaled to "
                              f"{capped.shape[1]}×{capped.shape[0]} (longest side at most {MAX_SIDE} px).")


@dataclass(frozen=True)
class Upload:
    image: np.ndarray  # uint8 (H, W, 3), longest side at most MAX_SIDE: all any model here sees
    size: tuple[int, int]  # (width, height) of the file itself
    num_bytes: int = 0  # the file's size
    format: str = ""  # what the file is: "JPEG", "PNG", … or "AEZ"
    note: str | None = None  # an .aez file: what it was and what it decoded to


def decode_upload(data: bytes) -> Upload:
    """An uploaded file → its picture at the size the app uses (JPEGs decoded straight at a
    reduced scale), and the file's own size for the words shown. An .aez file (recognised by
    its magic bytes, whatever it is called) is decoded by its model. ImageError says why not."""
    if data[: len(aez.MAGIC)] == aez.MAGIC:
        try:
            decoded = decode_aez(data)
        except (ValueError, WeightsError) as e:  # AezError, CodecError: the file's fault; WeightsError: ours
            raise ImageError(f"it is an .aez file that cannot be decoded: {e}") from None
        h, w = decoded.image.shape[:2]
        note = (f"An .aez file made by {decoded.model_id}: {decoded.num_bytes:,} B, decoded to {w}×{h} "
                f"({decoded.bits_per_pixel:.3f} bpp). The models below run on the decoded picture.")
        return Upload(limit_size(decoded.image, MAX_SIDE)[0], (w, h), len(data), "AEZ", note)
    image = decode_image(data, max_side=MAX_SIDE)
    with Image.open(io.BytesIO(data)) as header:  # opened fine just now; its size is the file's
        size, kind = header.size, header.format or ""
    h, w = image.shape[:2]
    if (size[0] >= size[1]) != (w >= h):  # EXIF rotation turned it
        size = size[::-1]
    return Upload(limit_size(image, MAX_SIDE)[0], size, len(data), kind)


# ---------------------------------------------------------------------------------------
# Quotable sizes: against the raw pixels, and against the visitor's own file

def raw_bytes(height: int, width: int) -> int:
    """The pixels as plain 8-bit RGB (24 bits per pixel): what "uncompressed" means here."""
    return height * width * RAW_BITS_PER_PIXEL // 8


def times_smaller(num_bytes: int, height: int, width: int) -> float:
    """Raw 24-bit pixels ÷ the bytes stored: 100 means a hundred times smaller."""
    return raw_bytes(height, width) / max(num_bytes, 1)


def times_text(factor: float) -> str:
    """100.2 → '100×', 12.04 → '12×', 3.04 → '3.0×', 0.5 → '0.50×': whole from 10 up, as a room quotes it."""
    return f"{factor:,.0f}×" if factor >= 10 else f"{factor:.1f}×" if factor >= 1 else f"{factor:.2f}×"


def smaller_text(num_bytes: int, height: int, width: int) -> str:
    """'100× smaller' (than the raw pixels), or '2.0× bigger' where the code outweighs them."""
    factor = times_smaller(num_bytes, height, width)
    return f"{times_text(factor)} smaller" if factor >= 1 else f"{times_text(1 / factor)} bigger"


def size_text(num_bytes: int) -> str:
    """Bytes as people say them (1 KB = 1000 B): '412 KB', '11.8 KB', '1.4 MB', '950 B'."""
    for unit, size in (("MB", 1e6), ("KB", 1e3)):
        if num_bytes >= size:
            value = num_bytes / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return f"{num_bytes} B"


def percent_text(change: float) -> str:
    """−0.886 → '−89 %', 0.31 → '+31 %' (a real minus sign, as in the tiles)."""
    points = round(change * 100)
    return f"{'−' if points < 0 else '+'}{abs(points)} %"


def versus_file(num_bytes: int, model_size: tuple[int, int], upload: Upload) -> str | None:
    """The model's bytes against the visitor's own file: '−89 % vs your 412 KB JPEG' when the
    model saw the file's pixels; when it saw fewer (capped at MAX_SIDE, or a 64×64 square), per
    pixel: '−72 % bits per pixel vs your 412 KB JPEG (4032×3024)'. None without a file."""
    if not upload.num_bytes:
        return None
    (w, h), (w0, h0) = model_size, upload.size
    kind = "file" if upload.format in ("", "AEZ") else upload.format
    yours = f"your {size_text(upload.num_bytes)} {kind}"
    if (w, h) == (w0, h0):
        return f"{percent_text(num_bytes / upload.num_bytes - 1)} vs {yours}"
    bpp, file_bpp = 8 * num_bytes / (w * h), 8 * upload.num_bytes / (w0 * h0)
    return f"{percent_text(bpp / file_bpp - 1)} bits per pixel vs {yours} ({w0}×{h0})"


# ---------------------------------------------------------------------------------------
# File names and other visitor text, shown as typed

_MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|~:$&\"'=^")


def plain(text: str) -> str:
    """`text` as literal characters inside Streamlit Markdown (st.markdown, labels, alerts): every
    character Markdown, HTML or Streamlit's :directives: could read is backslash-escaped, and line
    breaks become spaces. A file named ![t](http://host/beacon.png).png stays that text; no
    image is fetched."""
    flat = " ".join(str(text).split())
    return "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIAL else ch for ch in flat)


def image_key(image: np.ndarray) -> str:
    """A short content hash of an image (shape included): the cache key for every result about it."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((image.shape, str(image.dtype))).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Words about one model's result

def size_notice(analysis: Analysis) -> str | None:
    """Words for the case where the "compression" is bigger than the raw 8-bit pixels (tiny
    images: padding to whole 8×8 blocks, value ranges and file headers cost more than the
    pixels); None otherwise."""
    bpp = analysis.bits_per_pixel
    if bpp <= RAW_BITS_PER_PIXEL:
        return None
    h, w = analysis.original.shape[:2]
    return (f"This image is too small to compress: {analysis.model_id} needs {analysis.num_bytes:,} B "
            f"({bpp:.0f} bits per pixel) where its {w}×{h} pixels take {h * w * 3:,} B as plain 8-bit RGB "
            f"({RAW_BITS_PER_PIXEL} bits per pixel). Padding to whole 8×8 blocks and the code's fixed overhead "
            "cost more than the pixels; try a photo of a few hundred pixels or more.")


def latent_facts(analysis: Analysis) -> dict[str, str]:
    """The latent's shape, range and size in values and bytes, as label → text."""
    z, q = analysis.latent, analysis.quantized
    shape = " × ".join(str(s) for s in z.shape)
    axes = "channels × rows × columns" if z.ndim == 3 else "values"
    if analysis.file is not None:
        # Everything but the coded streams: header, stream table with its symbol checks, file CRC.
        unpacked = aez.unpack(analysis.file)
        header = len(analysis.file) - sum(map(len, unpacked.streams))
        step = aez.step_value(unpacked.step)
        return {
            "Shape": f"{shape} ({axes})",
            "Value range": f"{z.min():.2f} … {z.max():.2f} (in quantization steps, rounded)",
            "Size": f"{z.size:,} values",
            "File (.aez)": f"{len(analysis.file):,} B, of which {header} B header and checksum",
            "Entropy model's estimate": f"{analysis.estimated_bits / 8:,.0f} B",
            "Quantization step Δ": f"{step:g}" + (" (as trained)" if step == 1 else " (the rate control's; 1 is as trained)"),
        }
    side = q.num_bytes - q.codes.size * q.bits // 8
    ranges = "per channel" if z.ndim == 3 else "for the whole code"
    return {
        "Shape": f"{shape} ({axes})",
        "Value range": f"{z.min():.3f} … {z.max():.3f}",
        "Size": f"{z.size:,} values",
        "Bytes at 8 bits": f"{q.num_bytes:,} B ({q.codes.size:,} codes + {side:,} B of ranges {ranges})",
        "As float32": f"{z.size * 4:,} B",
    }


# ---------------------------------------------------------------------------------------
# The codec family's rate control: a size, bits per pixel or a quality → what rate.compress_to is asked

RATE_MODES = {"trained": "as trained", "size": "size (KB)", "bpp": "bits/pixel", "quality": "quality"}  # "Rate: …"
RATE_UNITS = {"size": "KB", "bpp": "bpp"}  # what the number typed is in (1 KB = 1000 B, as size_text says it)


@dataclass(frozen=True)
class RateTarget:
    """What rate.compress_to is asked for: a file of at most `num_bytes` (a size, or bits per
    pixel over the image's pixels), or a quality 0…100; `asked` says it in words."""
    num_bytes: int | None
    quality: int | None
    asked: str  # '30 KB', '0.5 bpp', 'quality 60'


def rate_ladder(cards: Sequence[ModelCard]) -> list[ModelCard]:
    """The cards rate control picks from (rate.ladder: the codec models that code at any step,
    less those another one refines), fewest bits first; empty for a family without them."""
    try:
        ids = rate.ladder([c.id for c in cards])
    except ValueError:
        return []
    by_id = {c.id: c for c in cards}
    return [by_id[i] for i in ids]


def rate_target(mode: str, value: object, height: int, width: int) -> RateTarget:
    """The rate control's number (mode "size": KB, "bpp": bits per pixel, "quality": 0…100) for
    an image of height × width pixels → the target; ValueError, in words, for a number that is
    no target (empty, text, not finite, zero or less, under one byte, a quality outside 0…100)."""
    what = {"size": "size in KB", "bpp": "number of bits per pixel", "quality": "quality from 0 to 100"}[mode]
    if value is None or value == "":
        raise ValueError(f"Type a {what}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"“{value}” is not a number: type a {what}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a {what}: type a finite number.")
    if mode == "quality":
        if not 0 <= number <= 100:
            raise ValueError(f"Quality {number:g} is outside 0…100.")
        return RateTarget(None, round(number), f"quality {round(number)}")
    unit = RATE_UNITS[mode]
    if number <= 0:
        raise ValueError(f"{number:g} {unit} is no size: a file needs more than 0 {unit}.")
    num_bytes = math.floor(number * 1000 if mode == "size" else number * height * width / 8)
    if num_bytes < 1:
        raise ValueError(f"{number:g} {unit} is less than one byte for {width}×{height} pixels.")
    return RateTarget(num_bytes, None, f"{number:,.6g} {unit}")


# ---------------------------------------------------------------------------------------
# The same bytes spent on JPEG or WebP

@dataclass
class EqualBytes:
    codec: str
    budget: int
    encoded: Encoded | None  # the best file within the budget; None if none fits
    smallest_bytes: int | None  # the quality-1 file's size when even that does not fit
    scores: dict | None


def verdict(model_id: str, model_psnr: float, result: EqualBytes) -> str:
    """The equal-bytes comparison in plain words: 'JPEG is 5.9 dB better at these bytes'."""
    name = baselines.CODECS[result.codec].label
    if result.scores is None:
        return f"{name} cannot make a file this small; {model_id} can."
    difference = result.scores["psnr"] - model_psnr
    if abs(difference) < 0.05:
        return f"{name} and {model_id} are level at these bytes."
    better, worse = (name, model_id) if difference > 0 else (model_id, name)
    return f"{better} is {abs(difference):.1f} dB better than {worse} at these bytes."


def equal_bytes(image: np.ndarray, budget: int, codec: str) -> EqualBytes:
    """The codec's best file of `image` within `budget` bytes, and its scores."""
    encoded = best_within_bytes(image, codec, budget)
    if encoded is None:
        return EqualBytes(codec, budget, None, pillow_roundtrip(image, codec, 1).num_bytes, None)
    return EqualBytes(codec, budget, encoded, None, score(image, encoded.decoded))


# ---------------------------------------------------------------------------------------
# Every model and both codecs on one image (the eval protocol, so Kodak curves are comparable)

@dataclass
class RatePoint:
    name: str  # model id, or codec name
    quality: int | None  # codec quality; None for models
    num_bytes: int
    bpp: float
    psnr: float
    reconstruction: np.ndarray | None = None  # models only (uint8, the compared pixels)


def comparison_image(image: np.ndarray) -> ModelInput:
    """The pixels every model and codec is scored on: the image cut to whole 64×64 tiles (the
    dense models code tile by tile, as `python -m autoencoder eval` does)."""
    h, w = image.shape[:2]
    if min(h, w) < TILE:
        return ModelInput(center_square(image, TILE), f"The image is smaller than {TILE} px, so all models "
                                                      f"are compared on its centre square at {TILE}×{TILE}.")
    tiled = crop_to_tiles(image)
    if tiled.shape == image.shape:
        return ModelInput(image, None)
    return ModelInput(tiled, f"All models are compared on the top-left {tiled.shape[1]}×{tiled.shape[0]} "
                             f"pixels (whole {TILE}×{TILE} tiles, which the dense models code one by one).")


def rate_point(analysis: Analysis) -> RatePoint:
    """A model's analysis (pipeline.analyse of comparison_image) as a point of the chart."""
    return RatePoint(analysis.model_id, None, analysis.num_bytes, analysis.bits_per_pixel, analysis.scores["psnr"],
                     analysis.reconstruction)


def codec_points(image: np.ndarray, codec: str) -> list[RatePoint]:
    """The codec's quality ladder on `image`, real file bytes."""
    return [RatePoint(codec, e.quality, e.num_bytes, metrics.bits_per_pixel(e.num_bytes, *image.shape[:2]),
                      score(image, e.decoded, full=False)["psnr"]) for e in codec_ladder(image, codec)]


def rate_table(models: Sequence[RatePoint], families: Mapping[str, str],
               codecs: Mapping[str, Sequence[RatePoint]]) -> list[dict]:
    """The rate–distortion chart's points on this image as rows (its text alternative): every
    model, then each codec's quality ladder, with bytes, bits per pixel and PSNR."""
    rows = [{"what": f"{p.name} ({families.get(p.name, 'model')})", "quality": "", "bytes": f"{p.num_bytes:,}",
             "bits per pixel": f"{p.bpp:.3f}", "PSNR (dB)": f"{p.psnr:.2f}"} for p in models]
    rows += [{"what": baselines.CODECS[codec].label, "quality": str(p.quality), "bytes": f"{p.num_bytes:,}",
              "bits per pixel": f"{p.bpp:.3f}", "PSNR (dB)": f"{p.psnr:.2f}"}
             for codec, points in codecs.items() for p in points]
    return rows


def _stored_result(name: str, key: str, folder: Path | None) -> dict | None:
    """A JSON object in the weights folder that has `key`, or None if absent or unreadable."""
    try:
        results = json.loads(((folder or weights_dir()) / name).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return results if isinstance(results, dict) and key in results else None


def load_kodak_eval(folder: Path | None = None) -> dict | None:
    """weights/kodak-eval.json (written by `python -m autoencoder eval`), or None if absent,
    unreadable or written by an eval older than the codec rows' "ladder" field (the chart's
    ladder is drawn from it: such a file is left out until eval runs again)."""
    results = _stored_result(KODAK_EVAL_FILE, "models", folder)
    codecs = results.get("codecs", []) if results else []
    if not isinstance(codecs, list) or not all(isinstance(row, dict) and "ladder" in row for row in codecs):
        return None
    return results


# ---------------------------------------------------------------------------------------
# Downloads, and .aez files brought back

@dataclass
class DecodedFile:
    image: np.ndarray  # uint8 (H, W, 3)
    model_id: str
    num_bytes: int  # the file's size

    @property
    def bits_per_pixel(self) -> float:
        return metrics.bits_per_pixel(self.num_bytes, *self.image.shape[:2])


def decode_aez(data: bytes) -> DecodedFile:
    """An uploaded .aez file → its image (aez.AezError / codec.CodecError say why not)."""
    out = decompress(data)
    return DecodedFile(to_uint8(out.image), out.model_id, len(data))


def png_bytes(image: np.ndarray, compress_level: int = 6) -> bytes:
    """uint8 (H, W, 3) → a PNG file. Downloads keep zlib's default level 6; what the page shows
    uses DISPLAY_PNG_LEVEL (see display_png)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def file_stem(source_name: str, model_id: str) -> str:
    """'My photo.JPG', 'conv-c16' → 'My-photo_conv-c16' (safe in any file system)."""
    stem = Path(source_name).stem or "image"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem).strip("-") or "image"
    return f"{safe[:60]}_{model_id}"
