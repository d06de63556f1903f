"""What the app computes, without Streamlit: model labels, the image a model sees, one
model's analysis of one image, error maps, zoom boxes, latent grids, metric tiles and their
deltas, the equal-bytes codec check, the compare-all points, and the bytes to download.

Images are RGB uint8 numpy arrays (H, W, 3) throughout, as `data.decode_image` returns them.
Every number shown to a user comes from the package's one implementation of it:
`metrics.quality` for scores, `latent.QuantizedLatent.num_bytes` for sizes,
`baselines` for JPEG and WebP, `evaluate.model_outputs` for the eval protocol, and for codec
models `codec.compress` (the real .aez file and the image it decodes to).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from torch import nn

from . import aez, metrics
from .baselines import Encoded, best_within_bytes, codec_ladder, pillow_roundtrip
from .data import IMAGE_SUFFIXES, center_square, decode_image, gallery_names, limit_size, to_tensor, to_uint8
from .codec import compress, decompress
from .evaluate import TILE, crop_to_tiles, model_outputs, score
from .latent import QuantizedLatent
from .models import MODEL_FAMILIES, ConvAutoencoder, DenseConfig
from .pipeline import roundtrip
from .pretrained import list_models, model_info, weights_dir

MAX_SIDE = 1024  # longest side a conv model sees in the app: a CPU laptop answers in about a second
NOTEBOOK_SIDE = DenseConfig().image_size  # 64: the original notebook's (and the dense models') size
ERROR_MAP_MAX = 0.25  # |x − x̂| (mean over RGB, 0…1) drawn at full brightness: 64 of 255 levels
ERROR_COLORSCALE = "Inferno"  # dark = exact, bright = wrong; readable in grayscale too
LATENT_COLORSCALE = "RdBu_r"  # latents are signed: blue below zero, red above, white at zero
LATENT_MAX_CELLS = 65_536  # heatmap cells sent to the browser; larger latents are average-pooled
DISPLAY_MIN_SIDE = 512  # small images are enlarged (nearest neighbour) to at least this for display
THUMBNAIL_MAX = 384  # longest side of a compare-all picture (its column is ~300 px wide)
UPLOAD_TYPES = tuple(s.lstrip(".") for s in IMAGE_SUFFIXES)
DEFAULT_IMAGE = gallery_names()[0]
KODAK_EVAL_FILE = "kodak-eval.json"
CODECS = {"jpeg": "JPEG", "webp": "WebP"}  # codec → the name people know it by
FAMILY_LABELS = {"conv": "conv (any size)", "dense": "dense (64×64 only)", "codec": "codec (real files)"}
BITS_COLORSCALE = "Viridis"  # the bits map: dark = cheap, yellow = where the bits go
DISPLAY_PNG_LEVEL = 1  # zlib level of the PNGs the page shows (lossless at any level; 1 is the fastest that packs)
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

    @property
    def any_size(self) -> bool:
        return MODEL_FAMILIES[self.family][0].any_size

    @property
    def short_label(self) -> str:
        """For the slider's ends and thumb, where long text overlaps: 'conv-c16 · 12×', 'codec-c16-hp · 0.31 bpp'."""
        if self.family == "codec":
            return f"{self.id} · {self.nominal_bpp:.2f} bpp" if self.nominal_bpp else self.id
        return f"{self.id} · {self.ratio:.3g}×"

    @property
    def label(self) -> str:
        """The slider's words for this model, e.g. '12× · 8×8×16 latent per 64×64 px · 2 bpp at 8 bits'."""
        if self.family == "codec":
            rate = f"{self.nominal_bpp:.3g} bpp on Kodak (real files) · " if self.nominal_bpp else ""
            return f"{rate}{self.latent_text}"
        return f"{self.ratio:.3g}× · {self.latent_text} · {self.nominal_bpp:.3g} bpp at 8 bits"


def model_card(entry: Mapping) -> ModelCard:
    """A manifest entry (id, family, ratio, sha256, latent_channels or latent_dim) → its card."""
    if entry["family"] == "codec":
        side = NOTEBOOK_SIDE // ConvAutoencoder.downsampling_factor
        latent_text = (f"{side}×{side}×{entry['latent_channels']} latent per {NOTEBOOK_SIDE}×{NOTEBOOK_SIDE} px, "
                       f"rounded and entropy-coded ({entry['prior']} prior, λ = {entry['lmbda']})")
        return ModelCard(entry["id"], "codec", entry["sha256"], float(entry["ratio"]),
                         float(entry.get("bpp_kodak") or 0.0), latent_text)
    if entry["family"] == "conv":
        channels, f = entry["latent_channels"], ConvAutoencoder.downsampling_factor
        side = NOTEBOOK_SIDE // f
        latent_text = f"{side}×{side}×{channels} latent per {NOTEBOOK_SIDE}×{NOTEBOOK_SIDE} px"
        bpp = channels * 8 / f**2  # C bytes per 8×8 block
    else:
        dim, side = entry["latent_dim"], entry.get("config", {}).get("image_size", NOTEBOOK_SIDE)
        latent_text = f"{dim}-value code per {side}×{side} px"
        bpp = dim * 8 / side**2
    return ModelCard(entry["id"], entry["family"], entry["sha256"], float(entry["ratio"]), bpp, latent_text)


def model_cards(folder: Path | None = None) -> list[ModelCard]:
    """Every model in the manifest, in its order."""
    return [model_card(model_info(i, folder)) for i in list_models(folder)]


def family_cards(cards: Sequence[ModelCard], family: str) -> list[ModelCard]:
    """One family's models from the widest bottleneck to the narrowest (slider left → right):
    codec models from the most bits per pixel to the fewest."""
    if family == "codec":
        return sorted((c for c in cards if c.family == family), key=lambda c: (-c.nominal_bpp, c.id))
    return sorted((c for c in cards if c.family == family), key=lambda c: (c.ratio, c.id))


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


def decode_upload(data: bytes) -> Upload:
    """An uploaded file → its picture at the size the app uses (JPEGs decoded straight at a
    reduced scale), and the file's own size for the words shown. ImageError says why not."""
    image = decode_image(data, max_side=MAX_SIDE)
    with Image.open(io.BytesIO(data)) as header:  # opened fine just now; its size is the file's
        size = header.size
    h, w = image.shape[:2]
    if (size[0] >= size[1]) != (w >= h):  # EXIF rotation turned it
        size = size[::-1]
    return Upload(limit_size(image, MAX_SIDE)[0], size)


def image_key(image: np.ndarray) -> str:
    """A short content hash of an image (shape included): the cache key for every result about it."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((image.shape, str(image.dtype))).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# One model on one image

@dataclass
class Analysis:
    model_id: str
    original: np.ndarray  # uint8 (H, W, 3): the model's input
    reconstruction: np.ndarray  # uint8 (H, W, 3): decoded from the 8-bit latent, as a PNG would store it
    latent: np.ndarray  # float32, the latent the decoder received: (C, h, w) or (D,)
    quantized: QuantizedLatent | None  # the 8-bit code whose bytes every size refers to (None for a codec)
    scores: dict  # metrics.quality of the reconstruction: mse, psnr, ssim, ms_ssim (None if too small)
    file: bytes | None = None  # codec models: the .aez file the reconstruction was decoded from
    bits_map: np.ndarray | None = None  # codec models: float (H, W), bits spent on each pixel
    estimated_bits: float | None = None  # codec models: what the entropy model predicts for the file's symbols

    @property
    def num_bytes(self) -> int:
        return len(self.file) if self.file is not None else self.quantized.num_bytes

    @property
    def bits_per_pixel(self) -> float:
        return metrics.bits_per_pixel(self.num_bytes, *self.original.shape[:2])

    @property
    def ratio(self) -> float:
        """Input values per latent value for this image (padding to multiples of 8 included)."""
        return self.original.size / self.latent.size

    def numbers(self) -> dict[str, float | None]:
        """Everything the metric tiles show, as plain numbers (what deltas are taken between)."""
        return {**self.scores, "ratio": self.ratio, "bytes": self.num_bytes, "bpp": self.bits_per_pixel}


def analyse(model: nn.Module, model_id: str, image: np.ndarray) -> Analysis:
    """Run `model` (eval mode, not modified) on `image` with its latent rounded to 8 bits; a codec
    model writes its .aez file, and what is shown is what that file decodes to (compress returns
    it: the decoder's own computation on the same symbols, which tests check against decompress)."""
    x = to_tensor(image)
    if model.family == "codec":
        result = compress(model, x, model_id, model_info(model_id)["sha256"])
        reconstruction = to_uint8(result.image)
        return Analysis(model_id=model_id, original=image, reconstruction=reconstruction,
                        latent=result.latent.numpy(), quantized=None, scores=score(image, reconstruction),
                        file=result.data, bits_map=result.bits_map.numpy(), estimated_bits=result.estimated_bits)
    trip = roundtrip(model, x, bits=8)
    reconstruction = to_uint8(trip.image)
    return Analysis(
        model_id=model_id,
        original=image,
        reconstruction=reconstruction,
        latent=trip.latent[0].float().cpu().numpy(),
        quantized=trip.quantized,
        scores=score(image, reconstruction),
    )


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


@lru_cache(maxsize=4)
def colour_table(colorscale: str) -> np.ndarray:
    """A plotly colour scale as a (256, 3) uint8 lookup table."""
    import plotly.colors

    samples = plotly.colors.sample_colorscale(colorscale, np.linspace(0, 1, 256))
    return np.array([plotly.colors.unlabel_rgb(s) for s in samples]).round().astype(np.uint8)


def error_map(original: np.ndarray, reconstruction: np.ndarray, vmax: float = ERROR_MAP_MAX) -> np.ndarray:
    """|x − x̂| averaged over RGB as a colour heatmap (uint8 RGB, same size); vmax and up is brightest.

    A fixed vmax (not the image's own maximum) keeps the colours comparable between models.
    """
    if original.shape != reconstruction.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {reconstruction.shape}")
    error = np.abs(original.astype(np.int16) - reconstruction.astype(np.int16)).mean(axis=2) / 255.0
    levels = np.clip(error / vmax, 0, 1) * 255
    return colour_table(ERROR_COLORSCALE)[levels.round().astype(np.uint8)]


def bits_top(bits: np.ndarray) -> float:
    """The bits per pixel a bits map is drawn brightest at: its 99th percentile, so a few
    expensive blocks do not darken the rest."""
    return max(float(np.percentile(bits, 99)), 1e-6)


def bits_image(bits: np.ndarray) -> np.ndarray:
    """A bits map (H, W) as a colour heatmap (uint8 RGB), brightest from bits_top up."""
    levels = np.clip(bits / bits_top(bits), 0, 1) * 255
    return colour_table(BITS_COLORSCALE)[levels.round().astype(np.uint8)]


def thumbnail(image: np.ndarray, max_side: int = THUMBNAIL_MAX) -> np.ndarray:
    """A picture for a small column: downscaled (Lanczos) so its longest side is ≤ max_side;
    smaller pictures unchanged. Detail is what the zoom crops are for."""
    return limit_size(image, max_side)[0]


def enlarge(image: np.ndarray, min_side: int = DISPLAY_MIN_SIDE) -> np.ndarray:
    """Repeat pixels (nearest neighbour, whole factors) until the shorter side is ≥ min_side.

    Browsers smooth small images when they stretch them, which hides exactly the blocks and
    blur a reconstruction is about; enlarged here, every pixel stays a crisp square.
    """
    factor = max(1, math.ceil(min_side / min(image.shape[:2])))
    return image if factor == 1 else image.repeat(factor, axis=0).repeat(factor, axis=1)


# ---------------------------------------------------------------------------------------
# Zoom

@dataclass(frozen=True)
class Box:
    top: int
    left: int
    height: int
    width: int


def zoom_box(height: int, width: int, centre_x: float, centre_y: float, zoom: float) -> Box:
    """The region 1/zoom of the image's size around (centre_x, centre_y), given as fractions
    0…1 of the width and height, moved inside the image where it would stick out."""
    if zoom < 1:
        raise ValueError(f"zoom must be at least 1, got {zoom}")
    box_h, box_w = max(1, round(height / zoom)), max(1, round(width / zoom))
    top = min(max(0, round(centre_y * height - box_h / 2)), height - box_h)
    left = min(max(0, round(centre_x * width - box_w / 2)), width - box_w)
    return Box(top, left, box_h, box_w)


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    return image[box.top : box.top + box.height, box.left : box.left + box.width]


def outline(image: np.ndarray, box: Box, colour: tuple[int, int, int] = (0, 255, 255)) -> np.ndarray:
    """A copy of the image with the box drawn as a frame (about 1 % of the image thick)."""
    out = image.copy()
    t = max(1, round(max(image.shape[:2]) / 100))
    bottom, right = box.top + box.height, box.left + box.width
    out[box.top : min(box.top + t, bottom), box.left : right] = colour
    out[max(bottom - t, box.top) : bottom, box.left : right] = colour
    out[box.top : bottom, box.left : min(box.left + t, right)] = colour
    out[box.top : bottom, max(right - t, box.left) : right] = colour
    return out


# ---------------------------------------------------------------------------------------
# Latent as a heatmap

@dataclass
class LatentGrid:
    values: np.ndarray  # 2-D float, the latent values; NaN in the gaps between channel tiles
    colours: np.ndarray  # what the colours show: `values`, or each channel ÷ its largest |value|
    hover: np.ndarray  # int (rows, cols, 3): conv → channel, latent row, latent column; dense → index, row, column
    family: str
    channels: int  # 1 for a dense code
    pool: int  # each cell averages pool×pool latent positions (1: every value shown as it is)
    per_channel: bool  # colours scaled per channel (True) or one scale for all (False)
    tiles: list[tuple[int, int, int]]  # conv: (channel number, top row, left column) of each tile, in grid order
    energy: np.ndarray  # conv: mean square of each channel's values (by channel number); dense: empty

    @property
    def cell_pixels(self) -> int:
        """The side in image pixels of the square one conv cell stands for (8 unless pooled)."""
        return ConvAutoencoder.downsampling_factor * self.pool


def _average_pool(maps: np.ndarray, pool: int) -> np.ndarray:
    """(C, h, w) → (C, ⌈h/pool⌉, ⌈w/pool⌉); windows cut by the border average what they cover."""
    c, h, w = maps.shape
    ph, pw = -(-h // pool) * pool, -(-w // pool) * pool
    padded = np.full((c, ph, pw), np.nan, dtype=np.float64)
    padded[:, :h, :w] = maps
    return np.nanmean(padded.reshape(c, ph // pool, pool, pw // pool, pool), axis=(2, 4))


def _code_shape(dim: int) -> tuple[int, int]:
    """The most square rows × columns with rows · columns = dim (a 2048 code → 32 × 64)."""
    rows = max(r for r in range(1, math.isqrt(dim) + 1) if dim % r == 0)
    return rows, dim // rows


def latent_grid(latent: np.ndarray, per_channel: bool = False, by_energy: bool = False,
                max_cells: int = LATENT_MAX_CELLS) -> LatentGrid:
    """A conv latent (C, h, w) → its C channel maps tiled in a near-square grid with one-cell
    gaps; a dense code (D,) → reshaped to 2-D. One colour scale for all channels unless
    per_channel, which divides each channel by its largest |value| (hover still shows values).
    Tiles go by channel number, or with by_energy from the channel with the largest mean square
    to the smallest (ties by number); `tiles` says which channel sits where."""
    if latent.ndim == 1:
        rows, cols = _code_shape(latent.size)
        index = np.arange(latent.size).reshape(rows, cols)
        hover = np.stack([index, index // cols, index % cols], axis=-1)
        values = latent.reshape(rows, cols).astype(np.float64)
        return LatentGrid(values, values, hover, "dense", 1, 1, False, [], np.zeros(0))
    if latent.ndim != 3:
        raise ValueError(f"expected a (C, h, w) or (D,) latent, got shape {latent.shape}")
    channels, h, w = latent.shape
    energy = np.square(latent.astype(np.float64)).mean(axis=(1, 2))
    order = np.argsort(-energy, kind="stable") if by_energy else np.arange(channels)
    grid_cols = math.ceil(math.sqrt(channels))
    grid_rows = math.ceil(channels / grid_cols)
    pool = max(1, math.ceil(math.sqrt(channels * h * w / max_cells)))
    maps = _average_pool(latent, pool) if pool > 1 else latent.astype(np.float64)
    peaks = np.abs(maps).max(axis=(1, 2)) if per_channel else np.ones(channels)
    th, tw = maps.shape[1:]
    values = np.full((grid_rows * (th + 1) - 1, grid_cols * (tw + 1) - 1), np.nan)
    colours = values.copy()
    hover = np.full(values.shape + (3,), -1, dtype=np.int64)
    rows_idx, cols_idx = np.meshgrid(np.arange(th) * pool, np.arange(tw) * pool, indexing="ij")
    tiles = []
    for place, c in enumerate(order.tolist()):
        top, left = (place // grid_cols) * (th + 1), (place % grid_cols) * (tw + 1)
        values[top : top + th, left : left + tw] = maps[c]
        colours[top : top + th, left : left + tw] = maps[c] / max(peaks[c], 1e-12)
        hover[top : top + th, left : left + tw] = np.stack([np.full_like(rows_idx, c), rows_idx, cols_idx], -1)
        tiles.append((c, top, left))
    return LatentGrid(values, colours, hover, "conv", channels, pool, per_channel, tiles, energy)


def latent_facts(analysis: Analysis) -> dict[str, str]:
    """The latent's shape, range and size in values and bytes, as label → text."""
    z, q = analysis.latent, analysis.quantized
    shape = " × ".join(str(s) for s in z.shape)
    axes = "channels × rows × columns" if z.ndim == 3 else "values"
    if analysis.file is not None:
        header = aez.header_bytes(analysis.model_id)
        return {
            "Shape": f"{shape} ({axes})",
            "Value range": f"{z.min():.2f} … {z.max():.2f} (in quantization steps, rounded)",
            "Size": f"{z.size:,} values",
            "File (.aez)": f"{len(analysis.file):,} B, of which {header} B header and checksum",
            "Entropy model's estimate": f"{analysis.estimated_bits / 8:,.0f} B",
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
# Metric tiles and their deltas against the model shown before

@dataclass(frozen=True)
class MetricTile:
    label: str
    value: str
    delta: str | None
    delta_color: str  # st.metric's: "normal" (up is good), "inverse" (down is good), "off"
    help: str
    group: str  # "quality" (how close) or "size" (how small): the app shows a row of each


# key → (label, value format, delta format, delta colour, help); the first four are quality
_TILES = (
    ("mse", "MSE", "{:.5f}", "{:+.5f}", "inverse", "mean squared error per value, pixels in 0…1"),
    ("psnr", "PSNR", "{:.2f} dB", "{:+.2f} dB", "normal", "peak signal-to-noise ratio: higher is closer"),
    ("ssim", "SSIM", "{:.4f}", "{:+.4f}", "normal", "structural similarity (1 = identical)"),
    ("ms_ssim", "MS-SSIM", "{:.4f}", "{:+.4f}", "normal",
     f"multi-scale SSIM; needs both sides ≥ {metrics.MS_SSIM_MIN_SIDE} px"),
    ("ratio", "Ratio (values)", "{:.3g}×", "{:+.3g}×", "off", "input values ÷ latent values for this image"),
    ("bytes", "Bytes", "{:,} B", "{:+,} B", "inverse",
     "conv and dense models: the 8-bit latent with its value ranges; codec models: the whole .aez file"),
    ("bpp", "Bits per pixel", "{:.3f}", "{:+.3f}", "inverse", "8 × bytes ÷ pixels"),
)


def _shown(value: float | None, fmt: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"  # PSNR of a lossless result
    return fmt.format(value)


def metric_tiles(numbers: Mapping[str, float | None], previous: Mapping[str, float | None] | None) -> list[MetricTile]:
    """Analysis.numbers() → the tiles in display order, with deltas where `previous` has the value."""
    tiles = []
    for i, (key, label, fmt, delta_fmt, colour, help_text) in enumerate(_TILES):
        value, before = numbers.get(key), (previous or {}).get(key)
        delta = None
        if value is not None and before is not None and math.isfinite(value) and math.isfinite(before):
            delta = delta_fmt.format(value - before)
        tiles.append(MetricTile(label, _shown(value, fmt), delta, colour, help_text, "quality" if i < 4 else "size"))
    return tiles


def previous_numbers(history: MutableMapping, input_key: str, model_id: str,
                     numbers: Mapping[str, float | None]) -> dict | None:
    """The numbers of the model shown before this one on the same input, or None.

    history: a dict kept across reruns (a session-state entry), updated here. Reruns that do
    not change the model (a zoom slider, a download) keep the same comparison.
    """
    shown = (input_key, model_id)
    if history.get("shown") != shown:
        before = history.get("shown")
        same_input = before is not None and before[0] == input_key
        history["previous"] = history.get("numbers") if same_input else None
        history["shown"], history["numbers"] = shown, dict(numbers)
    return history.get("previous")


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
    name = CODECS[result.codec]
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


def _psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR alone: the chart needs nothing else, and SSIM of every ladder step costs seconds."""
    return float(metrics.psnr(to_tensor(original), to_tensor(decoded)))


def model_point(model: nn.Module, model_id: str, image: np.ndarray) -> RatePoint:
    """One model on `image` (sides multiples of 64; dense models tile by tile), 8-bit latent; a
    codec model's real file."""
    if model.family == "codec":
        analysis = analyse(model, model_id, image)
        return RatePoint(model_id, None, analysis.num_bytes, analysis.bits_per_pixel, analysis.scores["psnr"],
                         analysis.reconstruction)
    out = model_outputs(model, image, float_latent=False)  # the app shows the 8-bit result only
    reconstruction = to_uint8(out["8bit"])
    bpp = metrics.bits_per_pixel(out["bytes"], *image.shape[:2])
    return RatePoint(model_id, None, out["bytes"], bpp, _psnr(image, reconstruction), reconstruction)


def codec_points(image: np.ndarray, codec: str) -> list[RatePoint]:
    """The codec's quality ladder on `image`, real file bytes."""
    return [RatePoint(codec, e.quality, e.num_bytes, metrics.bits_per_pixel(e.num_bytes, *image.shape[:2]),
                      _psnr(image, e.decoded)) for e in codec_ladder(image, codec)]


def load_kodak_eval(folder: Path | None = None) -> dict | None:
    """weights/kodak-eval.json (written by `python -m autoencoder eval`), or None if absent/unreadable."""
    path = (folder or weights_dir()) / KODAK_EVAL_FILE
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return results if isinstance(results, dict) and "models" in results else None


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


def display_png(image: np.ndarray, min_side: int = DISPLAY_MIN_SIDE) -> bytes:
    """The PNG the page shows: `enlarge`d (crisp pixels) and written at zlib level 1, which for a
    1-megapixel photo takes ~0.07 s instead of level 6's ~0.34 s for ~13 % more bytes (still
    lossless: what the browser shows is exactly the array)."""
    return png_bytes(enlarge(image, min_side), DISPLAY_PNG_LEVEL)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def file_stem(source_name: str, model_id: str) -> str:
    """'My photo.JPG', 'conv-c16' → 'My-photo_conv-c16' (safe in any file system)."""
    stem = Path(source_name).stem or "image"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem).strip("-") or "image"
    return f"{safe[:60]}_{model_id}"
