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
from explorer import report
from explorer.report import png_bytes

ERROR_PERCENTILE = 99  # error maps are brightest from this percentile of the image's own error up
ERROR_TOP_MIN = 1 / 255  # … but never below one 8-bit level: an exact copy stays black
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


def error_values(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """|x − x̂| averaged over RGB, pixels in 0…1: float (H, W)."""
    if original.shape != reconstruction.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {reconstruction.shape}")
    return np.abs(original.astype(np.int16) - reconstruction.astype(np.int16)).mean(axis=2) / 255.0


def error_top(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """The error an error map is drawn brightest at: this image's own 99th percentile
    (ERROR_PERCENTILE), so a good model's map is not nearly black and a few wild pixels do not
    darken the rest; at least ERROR_TOP_MIN (one 8-bit level), so an exact copy stays black."""
    error = error_values(original, reconstruction)
    return max(float(np.percentile(error, ERROR_PERCENTILE)), ERROR_TOP_MIN)


def error_map(original: np.ndarray, reconstruction: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """|x − x̂| averaged over RGB as a colour heatmap (uint8 RGB, same size); vmax and up is
    brightest (default: error_top of these two images; pass one vmax to compare several maps)."""
    error = error_values(original, reconstruction)
    top = vmax if vmax is not None else max(float(np.percentile(error, ERROR_PERCENTILE)), ERROR_TOP_MIN)
    return heatmap(error, top, ERROR_COLORSCALE)


def error_bar_html(top: float) -> str:
    """The error maps' colour bar, saying where their scale ends and why."""
    return colour_bar_html(ERROR_COLORSCALE, ["0 (exact)", f"{top / 2:.3f}", f"≥ {top:.3f} ({top * 255:.0f}/255)"],
                           f"|x − x̂|, mean over RGB, pixels in 0…1; brightest from {top:.3f}, "
                           f"this image's {ERROR_PERCENTILE}th percentile")


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
    hover: np.ndarray  # int (rows, cols, 3): maps → channel, latent row, latent column; a flat code → index, row, column
    maps: bool  # channel maps (C, h, w) tiled side by side, or a flat code reshaped to 2-D
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
        return LatentGrid(values, values, hover, False, 1, 1, False, [], np.zeros(0))
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
    return LatentGrid(values, colours, hover, True, channels, pool, per_channel, tiles, energy)


# ---------------------------------------------------------------------------------------
# Metric tiles and their deltas against the model shown before

@dataclass(frozen=True)
class MetricTile:
    label: str
    value: str
    delta: str | None
    delta_color: str  # st.metric's: "normal" (up is good), "inverse" (down is good), "off"
    help: str
    group: str  # "headline" (the tiles beside the picture) or "detail" (a click away)


def _signed_size(change: float) -> str:
    """A change in bytes for a tile's delta ('-32.8 KB'; ASCII minus: st.metric reads it for the arrow)."""
    return ("-" if change < 0 else "+") + report.size_text(abs(int(change)))


# key → (label, value format, delta format, delta colour, help, group), in display order.
# Formats are format strings or functions; None as a delta format: no delta.
_TILES = (
    ("psnr", "PSNR", "{:.2f} dB", "{:+.2f} dB", "normal", "peak signal-to-noise ratio: higher is closer", "headline"),
    ("ssim", "SSIM", "{:.4f}", "{:+.4f}", "normal", "structural similarity (1 = identical)", "headline"),
    ("smaller", "Smaller", report.times_text, None, "off",
     "raw 24-bit pixels (width × height × 3 B) ÷ the bytes stored", "headline"),
    ("bytes", "Size", report.size_text, _signed_size, "inverse",
     "conv and dense models: the 8-bit latent with its value ranges; codec models: the whole .aez file "
     "(1 KB = 1000 B)", "headline"),
    ("mse", "MSE", "{:.5f}", "{:+.5f}", "inverse", "mean squared error per value, pixels in 0…1", "detail"),
    ("ms_ssim", "MS-SSIM", "{:.4f}", "{:+.4f}", "normal",
     f"multi-scale SSIM; needs both sides ≥ {metrics.MS_SSIM_MIN_SIDE} px", "detail"),
    ("bytes", "Bytes", "{:,} B", "{:+,} B", "inverse", "the exact size", "detail"),
    ("bpp", "Bits per pixel", "{:.3f}", "{:+.3f}", "inverse", "8 × bytes ÷ pixels", "detail"),
    ("raw", "Raw pixels", "{:,} B", None, "off", "width × height × 3 B: the picture as plain 8-bit RGB", "detail"),
    ("ratio", "Values ratio", "{:.3g}×", "{:+.3g}×", "off", "input values ÷ latent values for this image", "detail"),
)


def _format(fmt, value) -> str:
    return fmt(value) if callable(fmt) else fmt.format(value)


def _shown(value: float | None, fmt) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"  # PSNR of a lossless result
    return _format(fmt, value)


def tile_numbers(numbers: Mapping[str, float | None], height: int, width: int) -> dict[str, float | None]:
    """Analysis.numbers() with what the tiles add: the raw pixels' bytes and how many times smaller."""
    return {**numbers, "raw": report.raw_bytes(height, width),
            "smaller": report.times_smaller(int(numbers["bytes"]), height, width)}


def metric_tiles(numbers: Mapping[str, float | None], previous: Mapping[str, float | None] | None) -> list[MetricTile]:
    """tile_numbers() → the tiles in display order, with deltas where `previous` has the value."""
    tiles = []
    for key, label, fmt, delta_fmt, colour, help_text, group in _TILES:
        value, before = numbers.get(key), (previous or {}).get(key)
        delta = None
        if (delta_fmt and value is not None and before is not None and math.isfinite(value)
                and math.isfinite(before)):
            delta = _format(delta_fmt, value - before)
        tiles.append(MetricTile(label, _shown(value, fmt), delta, colour, help_text, group))
    return tiles


def numbers_table(tiles: list[MetricTile]) -> str:
    """Every tile as a Markdown table (number, value, change since the model before, meaning)."""
    rows = ["| | value | change | what it is |", "|---|---|---|---|"]
    rows += [f"| {t.label} | {t.value} | {t.delta or ''} | {t.help} |" for t in tiles]
    return "\n".join(rows)


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
                              "+ − zoom both sides together; drag to pan when zoomed.",
                  touch_hint: str = "Drag across the picture to move the split; pinch to zoom both sides.") -> dict:
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
        "hint": hint, "touch_hint": touch_hint,
    }


def colour_bar_html(colorscale: str, ticks: list[str], title: str) -> str:
    """A horizontal colour bar for a heatmap drawn with `colorscale` (colour_table), as
    HTML: `ticks` are spread evenly from the darkest end (first) to the brightest (last)."""
    table = colour_table(colorscale)
    stops = ", ".join(f"rgb({r},{g},{b}) {100 * i / (COLOUR_BAR_STOPS - 1):g}%" for i, (r, g, b) in
                      enumerate(table[np.linspace(0, 255, COLOUR_BAR_STOPS).round().astype(int)].tolist()))
    labels = "".join(f'<span style="white-space:nowrap">{html.escape(t)}</span>' for t in ticks)
    # Labels wrap onto a second line, with a gap, rather than run into each other in a narrow column.
    return (f'<div class="colour-bar" role="img" aria-label="{html.escape(title)}: {html.escape(" … ".join(ticks))}">'
            f'<div style="height:12px;border-radius:2px;background:linear-gradient(to right, {stops})"></div>'
            f'<div style="display:flex;flex-wrap:wrap;justify-content:space-between;column-gap:1em;'
            f'font-size:0.8rem">{labels}</div>'
            f'<div style="font-size:0.8rem">{html.escape(title)}</div></div>')


# The page's styles (selectors: Streamlit's data-testids and the st-key-<key> classes of keyed
# containers). One screen at 1280×800, 1440×900 and on a 390×844 phone: the slider and the
# picture together, the numbers beside the picture (under it on a phone, two to a row).
PAGE_CSS = """
<style>
/* The header band (sidebar button left, menu and run status right) holds the title row too. */
header[data-testid=stHeader] { background: transparent !important; pointer-events: none; }
header[data-testid=stHeader] * { pointer-events: auto; }
.block-container { padding-top: 0.55rem !important; padding-bottom: 1rem !important; }
[data-testid=stMainBlockContainer] [data-testid=stVerticalBlock] { gap: 0.6rem; }
.st-key-head { flex-wrap: nowrap !important; padding: 0 8rem 0 1.5rem; min-height: 2.6rem; }
.st-key-head h1 { font-size: 1.5rem !important; padding: 0 !important; line-height: 1.25 !important; }
.st-key-head > div:first-child { flex: 1 1 auto; min-width: 0; }
/* Spinners of the main path: one fixed spot in the header band, out of the page's flow. */
.st-key-busy { position: fixed; top: 3.2rem; left: 0; right: 0; margin: 0 auto; width: fit-content !important;
               z-index: 999990; background: var(--st-background-color, #fff); padding: 0 0.5rem;
               border-radius: 4px; pointer-events: none; }
/* The line under the slider keeps its height whatever it says (model, or what is running). */
.st-key-status { min-height: 2.9em; }
/* The swipe (explorer/web/swipe.js) reads its tallest size from this variable; in Same bytes it
   starts lower, under two verdicts and the codec switch. */
:root { --swipe-max-height: calc(100vh - 290px); }
[role=tabpanel]:has(.st-key-swipe_codec) { --swipe-max-height: calc(100vh - 440px); }
/* The codec family's rate control, under the family switch, makes that column the tallest: 22 px more. */
:root:has(.st-key-rate_mode) { --swipe-max-height: calc(100vh - 312px); }
:root:has(.st-key-rate_mode) [role=tabpanel]:has(.st-key-swipe_codec) { --swipe-max-height: calc(100vh - 462px); }
.st-key-top_picker { display: none; }
/* The numbers beside the picture: sized with their column (container queries), never cut short. */
.st-key-stage [data-testid=stColumn]:last-child { container-type: inline-size; }
.st-key-tiles { gap: 0.5rem !important; }
.st-key-tiles [data-testid=stMetric] > div { padding: 0.45rem 0.8rem !important; }
.st-key-tiles [data-testid=stMetricValue] { font-size: clamp(1.3rem, 13cqi, 2.1rem); line-height: 1.15; }
.st-key-tiles [data-testid=stMetricValue] p { font-size: inherit !important; line-height: inherit !important; }
.st-key-tiles [data-testid=stMetricValue] div,
.st-key-tiles [data-testid=stMetricLabel] div { overflow: visible !important; text-overflow: clip !important; }
@media (max-width: 640px) {
  .block-container { padding-top: 0.4rem !important; padding-left: 1rem !important; padding-right: 1rem !important; }
  .st-key-head { padding: 0 2.4rem; min-height: 3.1rem; }
  .st-key-head h1 { font-size: 1rem !important; }
  /* No room for the intro or a projector switch on a phone: the picker, slider and picture come first. */
  .st-key-head [data-testid=stElementContainer]:has(.stCheckbox, [data-testid=stCheckbox]),
  .st-key-head [data-testid=stPopover], .st-key-head .st-key-about { display: none !important; }
  .st-key-top_picker { display: block; }
  [data-testid=stStatusWidget] button { display: none; }  /* its Stop button would cover the title */
  .st-key-controls [data-testid=stRadio] [data-testid=stWidgetLabel] { display: none; }
  .st-key-controls [role=radiogroup] { flex-direction: row !important; flex-wrap: wrap; column-gap: 1rem; }
  .st-key-tiles { display: grid !important; grid-template-columns: 1fr 1fr; }
  .st-key-tiles [data-testid=stMetricValue] { font-size: 1.4rem; }
  :root { --swipe-max-height: calc(100svh - 400px); }
  :root:has(.st-key-rate_mode) { --swipe-max-height: calc(100svh - 500px); }  /* its line, over the slider */
}
</style>
"""

# Presentation mode, for a projector at 1280×800: large numbers and labels on the picture (at
# least 24 px), tabs that wrap rather than scroll out of sight, no hint under the picture.
PRESENTATION_CSS = """
<style>
.block-container { max-width: 100% !important; padding-left: 2rem !important; padding-right: 2rem !important; }
.st-key-head h1 { font-size: 1.6rem !important; }
:root { --swipe-max-height: calc(100vh - 255px); --label-size: 24px;
        --hint-display: none; }
[role=tabpanel]:has(.st-key-swipe_codec) { --swipe-max-height: calc(100vh - 450px); }
/* The rate control makes the family's column the tallest here: 41 px more. */
:root:has(.st-key-rate_mode) { --swipe-max-height: calc(100vh - 296px); }
:root:has(.st-key-rate_mode) [role=tabpanel]:has(.st-key-swipe_codec) { --swipe-max-height: calc(100vh - 491px); }
.st-key-status { min-height: 1.6em; }
.st-key-tiles [data-testid=stMetricValue] { font-size: clamp(1.6rem, 16cqi, 2.6rem); }
.st-key-stage [data-testid=stColumn]:last-child :is([data-testid=stMetricLabel] p, [data-testid=stMetricDelta],
  [data-testid=stMetricDelta] *, [data-testid=stMarkdownContainer] p, button p) { font-size: 24px !important; }
.st-key-stage [data-testid=stColumn]:last-child [data-testid=stMetricValue] p { font-size: inherit !important; }
[data-testid=stTabs] [role=tablist] { flex-wrap: wrap; }
[data-testid=stTab] p { font-size: 1.05rem !important; }  /* all ten on one line, sidebar open too */
[data-testid=stCaptionContainer], [data-testid=stImageCaption] { font-size: 1.05rem !important; }
</style>
"""


def css_string(text: str) -> str:
    """`text` as a quoted CSS string: anything but letters, digits, spaces and . , · … - is a
    hex escape, so no name can close the string or the style element."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,·…-")
    return '"' + "".join(ch if ch in safe else f"\\{ord(ch):06x}" for ch in text) + '"'


def running_css(label: str) -> str:
    """While a model runs: what is on screen (the last result) faded, and `label` over it."""
    # The <span> keeps the style inside its placeholder (a style alone is moved to a page-wide
    # block that emptying the placeholder would not clear).
    return f"""<span class="running" hidden></span><style>
.st-key-stage {{ opacity: 0.4; transition: opacity 0.2s; position: relative; }}
.st-key-stage::after {{ content: {css_string(label)}; position: absolute; top: 45%; left: 50%; transform: translateX(-50%);
  background: rgba(0, 0, 0, 0.8); color: #fff; padding: 0.4rem 0.9rem; border-radius: 6px; font-size: 1.25rem;
  z-index: 10; white-space: nowrap; }}
</style>"""


# A "skip to the pictures" link, first in the focus order: the sidebar's uploader and sample
# buttons come before the page in the document, so without it the tabs are 30-odd Tab presses
# away. Visible only when focused; it moves focus to the open tab.
SKIP_LINK_SCRIPT = """
<script>
(() => {
  const doc = window.parent && window.parent.document ? window.parent.document : document;
  if (doc.getElementById("skip-to-pictures")) return;
  const link = doc.createElement("a");
  link.id = "skip-to-pictures";
  link.href = "#";
  link.textContent = "Skip to the pictures";
  link.setAttribute("style", "position:fixed;left:0.5rem;top:-3rem;z-index:1000000;padding:0.5rem 1rem;" +
    "background:#fff;color:#1f2328;border:2px solid #c0392b;border-radius:4px;font:600 1rem sans-serif");
  link.addEventListener("focus", () => { link.style.top = "0.5rem"; });
  link.addEventListener("blur", () => { link.style.top = "-3rem"; });
  link.addEventListener("click", (event) => {
    event.preventDefault();
    const tab = doc.querySelector("[data-testid=stTabs] [role=tab][aria-selected=true]")
      || doc.querySelector("[data-testid=stTabs] [role=tab]");
    if (tab) tab.focus();
  });
  doc.body.prepend(link);
})();
</script>
"""
