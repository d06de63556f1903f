"""How results are drawn in a browser, without Streamlit: pictures as the page shows them
(enlarged, PNG), error and bits heatmaps with their colour bars, zoom boxes, latent grids,
metric tiles with their deltas, the swipe comparison (its payload and its CSS and JavaScript
in autoencoder/web/), and the page styles of presentation mode. Plotly figures are in
`figures`. Images are RGB uint8 numpy arrays (H, W, 3), as everywhere in the app.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from autoencoder import metrics
from autoencoder.data import limit_size
from autoencoder.models import ConvAutoencoder
from explorer.report import png_bytes

ERROR_MAP_MAX = 0.25  # |x − x̂| (mean over RGB, 0…1) drawn at full brightness: 64 of 255 levels
ERROR_COLORSCALE = "Inferno"  # dark = exact, bright = wrong; readable in grayscale too
LATENT_COLORSCALE = "RdBu_r"  # latents are signed: blue below zero, red above, white at zero
LATENT_MAX_CELLS = 65_536  # heatmap cells sent to the browser; larger latents are average-pooled
DISPLAY_MIN_SIDE = 512  # small images are enlarged (nearest neighbour) to at least this for display
THUMBNAIL_MAX = 384  # longest side of a compare-all picture (its column is ~300 px wide)
BITS_COLORSCALE = "Viridis"  # the bits map: dark = cheap, yellow = where the bits go
DISPLAY_PNG_LEVEL = 1  # zlib level of the PNGs the page shows (lossless at any level; 1 is the fastest that packs)
WEB = Path(__file__).resolve().parent / "web"  # the swipe component's CSS and JS, read when first drawn
COLOUR_BAR_STOPS = 11  # gradient stops sampled from the colour table: smooth at any width



# ---------------------------------------------------------------------------------------
# Pictures and heatmaps

@lru_cache(maxsize=4)
def colour_table(colorscale: str) -> np.ndarray:
    """A plotly colour scale as a (256, 3) uint8 lookup table."""
    import plotly.colors

    samples = plotly.colors.sample_colorscale(colorscale, np.linspace(0, 1, 256))
    return np.array([plotly.colors.unlabel_rgb(s) for s in samples]).round().astype(np.uint8)


def heatmap(values: np.ndarray, top: float, colorscale: str) -> np.ndarray:
    """Float (H, W) values as a colour picture (uint8 RGB): 0 darkest, `top` and up brightest."""
    levels = np.clip(values / top, 0, 1) * 255
    return colour_table(colorscale)[levels.round().astype(np.uint8)]


def error_map(original: np.ndarray, reconstruction: np.ndarray, vmax: float = ERROR_MAP_MAX) -> np.ndarray:
    """|x − x̂| averaged over RGB as a colour heatmap (uint8 RGB, same size); vmax and up is brightest.

    A fixed vmax (not the image's own maximum) keeps the colours comparable between models.
    """
    if original.shape != reconstruction.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {reconstruction.shape}")
    error = np.abs(original.astype(np.int16) - reconstruction.astype(np.int16)).mean(axis=2) / 255.0
    return heatmap(error, vmax, ERROR_COLORSCALE)


def bits_top(bits: np.ndarray) -> float:
    """The bits per pixel a bits map is drawn brightest at: its 99th percentile, so a few
    expensive blocks do not darken the rest."""
    return max(float(np.percentile(bits, 99)), 1e-6)


def bits_image(bits: np.ndarray) -> np.ndarray:
    """A bits map (H, W) as a colour heatmap (uint8 RGB), brightest from bits_top up."""
    return heatmap(bits, bits_top(bits), BITS_COLORSCALE)


def anomaly_image(window_error: np.ndarray, top: float | None = None) -> np.ndarray:
    """An anomaly map (uses.Anomaly.window_error, float (H, W)) as a colour heatmap (uint8 RGB),
    brightest from `top` up (default: the map's own maximum, so the worst window is brightest)."""
    return heatmap(window_error, max(float(top if top is not None else window_error.max()), 1e-12), ERROR_COLORSCALE)


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


def display_png(image: np.ndarray, min_side: int = DISPLAY_MIN_SIDE) -> bytes:
    """The PNG the page shows: `enlarge`d (crisp pixels) and written at zlib level 1, which for a
    1-megapixel photo takes ~0.07 s instead of level 6's ~0.34 s for ~13 % more bytes (still
    lossless: what the browser shows is exactly the array)."""
    return png_bytes(enlarge(image, min_side), DISPLAY_PNG_LEVEL)


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
# The swipe comparison, colour bars and presentation styles

def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def swipe_payload(left: bytes, right: bytes, left_label: str, right_label: str, *,
                  left_alt: str, right_alt: str, max_height: str = "75vh",
                  hint: str = "Move the pointer to move the split (keys: arrows 1 %, Shift 10 %). Wheel, pinch or "
                              "+ − zoom both sides together; drag to pan when zoomed.") -> dict:
    """What explorer/web/swipe.js draws: two PNG files of one size (`display_png`:
    lossless, drawn with crisp pixels when enlarged) as data URIs, their labels and alt texts,
    and the tallest the frame may be on screen (a CSS length: the presentation view keeps it
    inside one projector screen)."""
    sizes = [Image.open(io.BytesIO(png)).size for png in (left, right)]  # reads the header only
    if sizes[0] != sizes[1]:
        raise ValueError(f"a swipe compares pictures of one size, got {sizes[0]} and {sizes[1]}")
    w, h = sizes[0]
    return {
        "left": data_uri(left), "right": data_uri(right), "left_label": left_label, "right_label": right_label,
        "left_alt": left_alt, "right_alt": right_alt, "width": w, "height": h, "max_height": max_height,
        "hint": hint,
    }


def colour_bar_html(colorscale: str, ticks: list[str], title: str) -> str:
    """A horizontal colour bar for a heatmap drawn with `colorscale` (colour_table), as
    HTML: `ticks` are spread evenly from the darkest end (first) to the brightest (last)."""
    table = colour_table(colorscale)
    stops = ", ".join(f"rgb({r},{g},{b}) {100 * i / (COLOUR_BAR_STOPS - 1):g}%" for i, (r, g, b) in
                      enumerate(table[np.linspace(0, 255, COLOUR_BAR_STOPS).round().astype(int)].tolist()))
    labels = "".join(f'<span>{html.escape(t)}</span>' for t in ticks)
    return (f'<div class="colour-bar" role="img" aria-label="{html.escape(title)}: {html.escape(" … ".join(ticks))}">'
            f'<div style="height:12px;border-radius:2px;background:linear-gradient(to right, {stops})"></div>'
            f'<div style="display:flex;justify-content:space-between;font-size:0.8rem">{labels}</div>'
            f'<div style="font-size:0.8rem;opacity:0.75">{html.escape(title)}</div></div>')


# Presentation mode, for a projector at 1280×800: no header gap, big metric numbers and
# captions, tabs a finger can hit. The selectors are Streamlit's stable data-testids.
PRESENTATION_CSS = """
<style>
.block-container { padding-top: 3.9rem !important; padding-bottom: 0.5rem !important; max-width: 100% !important; }
h1 { font-size: 1.6rem !important; padding: 0 !important; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; line-height: 1.15 !important; }
[data-testid="stMetricLabel"] p { font-size: 1.15rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stImageCaption"] { font-size: 1.05rem !important; opacity: 0.9; }
[data-testid="stTab"] p { font-size: 1.15rem !important; }
</style>
"""
