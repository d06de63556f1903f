"""How results are drawn in a browser, without Streamlit: the swipe comparison (its payload and
its CSS and JavaScript in autoencoder/web/), colour bars for the heatmaps, and the page styles
of presentation mode. Images are RGB uint8 numpy arrays (H, W, 3), as everywhere in the app.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from .explore import colour_table

WEB = Path(__file__).resolve().parent / "web"
SWIPE_CSS = (WEB / "swipe.css").read_text()
SWIPE_JS = (WEB / "swipe.js").read_text()
COLOUR_BAR_STOPS = 11  # gradient stops sampled from the colour table: smooth at any width


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def swipe_payload(left: bytes, right: bytes, left_label: str, right_label: str, *,
                  left_alt: str, right_alt: str, max_height: str = "75vh",
                  hint: str = "Move the pointer across the picture (or focus it and use the arrow keys) "
                              "to move the split.") -> dict:
    """What autoencoder/web/swipe.js draws: two PNG files of one size (`explore.display_png`:
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
    """A horizontal colour bar for a heatmap drawn with `colorscale` (explore.colour_table), as
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
