"""The comparison views: swipe, side by side, zoom and the same bytes as JPEG/WebP.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from autoencoder import baselines, pipeline
from explorer import report, views
from explorer.state import ModelRef, equal_bytes_of, shown_png
from explorer.widgets import show_png, zoom_settings, zoom_ui

# The picture under the title, slider and tabs (about 290 px on a 1280×800 screen), hint included.
PRESENTATION_SWIPE_HEIGHT = "calc(100vh - 320px)"


@functools.cache
def swipe_component():
    """The swipe comparison (explorer/web), registered with Streamlit once per process, when first drawn."""
    return st.components.v2.component("autoencoder_swipe", css=(views.WEB / "swipe.css").read_text(),
                                      js=(views.WEB / "swipe.js").read_text())


def swipe(**kwargs) -> None:
    swipe_component()(**kwargs)


def reconstruction_name(analysis: pipeline.Analysis) -> str:
    return (f"Decoded from the {analysis.num_bytes:,} B .aez file" if analysis.file is not None
            else "Reconstruction from the 8-bit latent")


def show_swipe(analysis: pipeline.Analysis, card: report.ModelCard, pictures: dict[str, Callable[[], bytes]],
               presenting: bool) -> None:
    h, w = analysis.original.shape[:2]
    swipe(key="swipe_main", data=views.swipe_payload(
        pictures["original"](), pictures["reconstruction"](),
        "Original", f"{card.id} · {analysis.scores['psnr']:.2f} dB",
        left_alt=f"The original image, {w}×{h} pixels",
        right_alt=f"{reconstruction_name(analysis)} of {card.id}, {analysis.num_bytes:,} bytes",
        max_height=PRESENTATION_SWIPE_HEIGHT if presenting else "75vh"))


def error_bar_html() -> str:
    top = views.ERROR_MAP_MAX
    return views.colour_bar_html(views.ERROR_COLORSCALE, ["0 (exact)", f"{top / 2:.3f}", f"≥ {top:.2f} "
                                 f"({round(top * 255)}/255)"], "|x − x̂|, mean over RGB, pixels in 0…1")


def show_side_by_side(analysis: pipeline.Analysis, card: report.ModelCard,
                      pictures: dict[str, Callable[[], bytes]]) -> None:
    h, w = analysis.original.shape[:2]
    panels = [("original", f"Original · {w}×{h}", f"The original image, {w}×{h} pixels", None),
              ("reconstruction", f"{reconstruction_name(analysis)} · {card.id}",
               f"{reconstruction_name(analysis)} of {card.id}", None),
              ("error", "Error |x − x̂|", f"Error map of {card.id}: dark where exact, bright where wrong",
               error_bar_html())]
    if analysis.bits_map is not None:
        top = views.bits_top(analysis.bits_map)
        panels.append(("bits", f"Where the bits go (mean {analysis.bits_per_pixel:.3f} bpp)",
                       f"Bits map of {card.id}: dark where cheap, yellow where the bits go",
                       views.colour_bar_html(views.BITS_COLORSCALE, ["0", f"{top / 2:.2f}", f"≥ {top:.2f}"],
                                             "bits per pixel")))
    for column, (name, caption, alt, bar) in zip(st.columns(len(panels)), panels):
        show_png(column, pictures[name](), alt, caption)
        if bar:
            column.html(bar)


@st.fragment
def show_zoom(analysis: pipeline.Analysis) -> None:
    """Reruns alone when its sliders move."""
    x, y, zoom = zoom_ui()
    h, w = analysis.original.shape[:2]
    box = views.zoom_box(h, w, x, y, zoom)
    original, reconstruction = views.crop(analysis.original, box), views.crop(analysis.reconstruction, box)
    where, *crops = st.columns([1, 2, 2, 2])
    show_png(where, views.display_png(views.outline(analysis.original, box), 0),
             "The whole image with the zoomed region framed", "Where")
    names = ("Original", "Reconstruction", "Error")
    # The error map is per pixel: the crop's own is the whole map's crop, for a fraction of the work.
    for column, image, name in zip(crops, (original, reconstruction, views.error_map(original, reconstruction)),
                                   names):
        show_png(column, views.display_png(image),
                 f"{name}, zoomed {zoom}× at ({box.left}, {box.top})",
                 f"{name} · {box.width}×{box.height} px at ({box.left}, {box.top})")
    where.html(error_bar_html())


def show_equal_bytes(analysis: pipeline.Analysis, card: report.ModelCard, input_key: str, presenting: bool) -> None:
    budget = analysis.num_bytes
    psnr = analysis.scores["psnr"]
    results = {codec: equal_bytes_of(input_key, budget, codec, analysis.original) for codec in baselines.CODECS}
    for result in results.values():
        st.markdown(f"#### {report.verdict(card.id, psnr, result)}")
    fitting = [codec for codec, r in results.items() if r.encoded is not None]
    if fitting:
        against = st.segmented_control("Swipe against", fitting, default=fitting[0], format_func=lambda c: baselines.CODECS[c].label,
                                       key="swipe_codec", required=True)
        e = results[against].encoded
        swipe(key="swipe_codec_view", data=views.swipe_payload(
            shown_png(f"{input_key}/{against}/{budget}", lambda: e.decoded),
            shown_png(f"{input_key}/{ModelRef.of(card)}/{budget}", lambda: analysis.reconstruction),
            f"{baselines.CODECS[against].label} · {results[against].scores['psnr']:.2f} dB",
            f"{card.id} · {psnr:.2f} dB",
            left_alt=f"{baselines.CODECS[against].label} quality {e.quality}, {e.num_bytes:,} bytes",
            right_alt=f"{card.id}, {budget:,} bytes",
            max_height=PRESENTATION_SWIPE_HEIGHT if presenting else "70vh"))
    x, y, zoom = zoom_settings()
    box = views.zoom_box(*analysis.original.shape[:2], x, y, zoom)
    st.caption(f"Below: each file whole, zoomed {zoom}× at ({box.left}, {box.top}) (the Zoom tab moves it), "
               "and its error map.")
    rows = [(str(ModelRef.of(card)), card.id, analysis.reconstruction,
             f"{card.id}: {budget:,} B, {psnr:.2f} dB")]
    for codec, result in results.items():
        if result.encoded is not None:
            name, e = baselines.CODECS[codec].label, result.encoded
            rows.append((codec, name, e.decoded,
                         f"{name} quality {e.quality}: {e.num_bytes:,} B, {result.scores['psnr']:.2f} dB"))
    columns = st.columns(3)
    for column, (what, name, image, caption) in zip(columns, rows):
        key = f"{input_key}/{what}/{budget}"
        show_png(column, shown_png(key, lambda: image), caption, caption)
        show_png(column, views.display_png(views.crop(image, box), 256), f"{name}, zoomed {zoom}×")
        show_png(column, shown_png(f"{key}/error", lambda: views.error_map(analysis.original, image), 256),
                 f"Error map of {name}", f"{name}: error |x − x̂|")
    for column, (codec, result) in zip(columns[len(rows):], [(c, r) for c, r in results.items() if r.encoded is None]):
        column.warning(f"No {baselines.CODECS[codec].label} file of this image fits in {budget:,} bytes: even "
                       f"quality 1 takes {result.smallest_bytes:,} bytes.")
    columns[0].html(error_bar_html())
