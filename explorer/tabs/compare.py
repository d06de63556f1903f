"""The comparison views: swipe, side by side, zoom and the same bytes as JPEG/WebP.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

import autoencoder
from autoencoder import baselines, pipeline
from autoencoder.data import ImageError
from explorer import report, sides, state, views
from explorer.state import (
    analysis_key,
    codec_at_quality,
    equal_bytes_of,
    shown_analysis,
    shown_png,
    uploaded_image,
)
from explorer.widgets import show_png, zoom_settings, zoom_ui

# The tallest a swipe may be: the page's CSS sets --swipe-max-height per screen size (views.PAGE_CSS),
# so the picture fits under the title, slider and tabs; the fallbacks are for a page without it.
PRESENTATION_SWIPE_HEIGHT = "var(--swipe-max-height, calc(100vh - 320px))"
SWIPE_HEIGHT = "var(--swipe-max-height, 75vh)"


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


SIDE_DEFAULTS = {"left": sides.ORIGINAL, "right": sides.CURRENT}  # a first visit: original | the slider's model


@dataclass(frozen=True)
class Shown:
    """One side as the page shows it: its numbers and words, its picture and its file."""
    side: sides.Side
    picture: Callable[[], bytes]  # views.display_png of what it shows
    file: Callable[[], bytes]  # what its download writes
    slug: str  # the file name's part that says what it is
    analysis: pipeline.Analysis | None = None  # a model side's result


def shown_source(image: np.ndarray) -> tuple[str, tuple[str, int] | None]:
    """The name files are named after, and (name, bytes) of the uploaded file when `image` is
    exactly its pixels (not cut to the model's size nor replaced by a gallery photo)."""
    upload = st.session_state.get("upload")
    if st.session_state.get("source") == "upload" and upload is not None:
        try:
            decoded = uploaded_image(upload.file_id, upload.getvalue())
        except ImageError:  # refused: the page shows the last gallery photo instead
            pass
        else:
            exact = decoded.size == (image.shape[1], image.shape[0]) and np.array_equal(decoded.image, image)
            return upload.name, (upload.name, upload.size) if exact else None
    return st.session_state.get("gallery", report.DEFAULT_IMAGE), None


def choice_words(choice: str) -> str:
    if choice == sides.ORIGINAL:
        return "Original"
    if choice == sides.CURRENT:
        # No name here: a select box keeps showing its option's words from before a rerun
        # changed them (it read "(conv-c16)" after the slider had moved on). The picture's label names it.
        return "The model shown"
    if choice.startswith(sides.MODEL):
        return f"Model · {choice.removeprefix(sides.MODEL)}"
    return f"Codec · {baselines.CODECS[choice.removeprefix(sides.CODEC)].label}"


def model_shown(result: state.Shown, picture: Callable[[], bytes]) -> Shown:
    analysis = result.analysis
    file = (lambda: analysis.file) if analysis.file is not None else (lambda: report.png_bytes(analysis.reconstruction))
    return Shown(sides.model_side(analysis, result.name), picture, file, result.slug, analysis)


def other_model(choice: str, current: state.Shown, picture: Callable[[], bytes],
                models: dict[str, report.ModelCard], input_key: str, where) -> Shown:
    """A model side: the page's result (the slider's model, or the rate control's file), or a
    model as trained on the same pixels (the app's shared store: its neighbours may be computed already)."""
    other = models.get(choice.removeprefix(sides.MODEL)) if choice.startswith(sides.MODEL) else None
    if other is not None and analysis_key(other, input_key) != current.key:
        try:
            shown = shown_analysis(other, input_key, current.analysis.original)
            return model_shown(shown, lambda: shown.reconstruction_png)
        except autoencoder.WeightsError as e:
            where.warning(f"{other.id} cannot be loaded ({e}); showing {current.name}.", icon=":material/warning:")
    return model_shown(current, picture)


def codec_shown(side: str, codec: str, image: np.ndarray, input_key: str, against: Shown, where) -> Shown:
    """A codec side: its controls (same bytes as the model side `against`, or a quality) in
    `where`, and its file."""
    name, budget = baselines.CODECS[codec].label, against.side.num_bytes
    mode = where.radio(f"{name} on the {side}", ("bytes", "quality"), key=f"side_{side}_mode", horizontal=True,
                       label_visibility="collapsed",
                       format_func=lambda m: f"Same bytes as {against.side.title}" if m == "bytes" else "Quality")
    low, high = baselines.SEARCH_QUALITIES
    note = None
    if mode == "quality":
        quality = where.slider(f"{name} quality", low, high, sides.default_quality(), key=f"side_{side}_{codec}_q")
        encoded = codec_at_quality(input_key, codec, quality, image)
    else:
        within = equal_bytes_of(input_key, budget, codec, image)
        encoded = within.encoded or codec_at_quality(input_key, codec, low, image)
        note = (f"The best {name} file within {against.side.title}'s {budget:,} B" if within.encoded else
                f"No {name} file fits in {budget:,} B: even quality {low}, shown, takes {encoded.num_bytes:,} B")
    return Shown(sides.codec_side(image, encoded, note),
                 lambda: shown_png(f"{input_key}/{codec}/q{encoded.quality}", lambda: encoded.decoded),
                 lambda: encoded.data, f"{codec}-q{encoded.quality}")


@st.fragment
def show_swipe(current: state.Shown, pictures: dict[str, Callable[[], bytes]], presenting: bool) -> None:
    """The swipe, then one control per side (the original, the page's result, any model that takes
    these pixels, or a codec at the same bytes or a quality) with its numbers and its file. Reruns
    alone when a side moves."""
    image = current.analysis.original
    h, w = image.shape[:2]
    input_key = report.image_key(image)
    broken = st.session_state.get("broken_models", {})
    models = {c.id: c for c in report.model_cards() if c.id not in broken and sides.fits(c, h, w)}
    options = sides.choices(models, baselines.CODECS)
    source_name, upload = shown_source(image)
    reference = sides.reference_of(image, upload)
    frame = st.container()
    columns = dict(zip(SIDE_DEFAULTS, st.columns(2)))
    chosen = {side: columns[side].selectbox(f"{side.title()} side", options, index=options.index(default),
                                            key=f"side_{side}", format_func=choice_words)
              for side, default in SIDE_DEFAULTS.items()}
    # Models first: a codec side at the same bytes matches the model on the other side, if there is one.
    shown = {side: other_model(choice, current, pictures["reconstruction"], models, input_key, columns[side])
             for side, choice in chosen.items() if choice == sides.CURRENT or choice.startswith(sides.MODEL)}
    for side, choice in chosen.items():
        if choice == sides.ORIGINAL:
            shown[side] = Shown(sides.original_side(image, reference), pictures["original"],
                                lambda: report.png_bytes(image), "original")
        elif choice.startswith(sides.CODEC):
            other = shown.get("right" if side == "left" else "left")
            shown[side] = codec_shown(side, choice.removeprefix(sides.CODEC), image, input_key,
                                      other if other and other.analysis else model_shown(current, pictures["reconstruction"]),
                                      columns[side])
    left, right = shown["left"], shown["right"]
    with frame:
        swipe(key="swipe_main", data=views.swipe_payload(
            left.picture(), right.picture(), left.side.label(reference), right.side.label(reference),
            left_alt=left.side.alt, right_alt=right.side.alt,
            max_height=PRESENTATION_SWIPE_HEIGHT if presenting else SWIPE_HEIGHT))
    for side, column in columns.items():
        one = shown[side]
        column.caption(report.plain(one.side.facts(reference) + (f". {one.side.note}." if one.side.note else "")))
        column.download_button(f"{one.side.title} ({one.side.suffix})", one.file,
                               file_name=report.file_stem(source_name, one.slug) + one.side.suffix,
                               mime=one.side.mime, key=f"download_{side}", on_click="ignore",
                               icon=":material/download:", help=one.side.file_words)



def show_side_by_side(shown: state.Shown, pictures: dict[str, Callable[[], bytes]]) -> None:
    analysis, name = shown.analysis, shown.name
    h, w = analysis.original.shape[:2]
    panels = [("original", f"Original · {w}×{h}", f"The original image, {w}×{h} pixels", None),
              ("reconstruction", f"{reconstruction_name(analysis)} · {name}",
               f"{reconstruction_name(analysis)} of {name}", None),
              ("error", "Error |x − x̂|", f"Error map of {name}: dark where exact, bright where wrong",
               views.error_bar_html(views.error_top(analysis.original, analysis.reconstruction)))]
    if analysis.bits_map is not None:
        top = views.bits_top(analysis.bits_map)
        panels.append(("bits", f"Where the bits go (mean {analysis.bits_per_pixel:.3f} bpp)",
                       f"Bits map of {name}: dark where cheap, yellow where the bits go",
                       views.colour_bar_html(views.BITS_COLORSCALE, ["0", f"{top / 2:.2f}", f"≥ {top:.2f}"],
                                             "bits per pixel")))
    columns = [c for _ in range(0, len(panels), 2) for c in st.columns(2)]  # two to a row: large enough to read
    for column, (name, caption, alt, bar) in zip(columns, panels):
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
    # The error map is per pixel: the crop's own, on the whole image's scale, is the whole map's crop.
    top = views.error_top(analysis.original, analysis.reconstruction)
    for column, image, name in zip(crops, (original, reconstruction, views.error_map(original, reconstruction, top)),
                                   names):
        show_png(column, views.display_png(image),
                 f"{name}, zoomed {zoom}× at ({box.left}, {box.top})",
                 f"{name} · {box.width}×{box.height} px at ({box.left}, {box.top})")
    where.html(views.error_bar_html(top))


def show_equal_bytes(shown: state.Shown, input_key: str, presenting: bool) -> None:
    """Every classical codec's best file within the bytes of the page's result (the slider's
    model, or the rate control's file), the verdicts, a swipe and zoomed crops."""
    analysis, name = shown.analysis, shown.name
    budget = analysis.num_bytes
    psnr = analysis.scores["psnr"]
    results = {codec: equal_bytes_of(input_key, budget, codec, analysis.original) for codec in baselines.CODECS}
    fitting = [codec for codec, r in results.items() if r.encoded is not None]
    against = st.segmented_control("Swipe against", fitting, default=fitting[0],
                                   format_func=lambda c: baselines.CODECS[c].label, key="swipe_codec",
                                   required=True) if fitting else None
    # On a projector one verdict, the swiped codec's, so the picture stays on the screen; else all.
    for codec, result in results.items():
        if not presenting or codec == against or against is None:
            st.markdown(f"#### {report.verdict(name, psnr, result)}")
    if against:
        e = results[against].encoded
        swipe(key="swipe_codec_view", data=views.swipe_payload(
            shown_png(f"{input_key}/{against}/{budget}", lambda: e.decoded),
            shown_png(f"{input_key}/{shown.key}/{budget}", lambda: analysis.reconstruction),
            f"{baselines.CODECS[against].label} · {results[against].scores['psnr']:.2f} dB",
            f"{name} · {psnr:.2f} dB",
            left_alt=f"{baselines.CODECS[against].label} quality {e.quality}, {e.num_bytes:,} bytes",
            right_alt=f"{name}, {budget:,} bytes",
            max_height=PRESENTATION_SWIPE_HEIGHT if presenting else SWIPE_HEIGHT))
    x, y, zoom = zoom_settings()
    box = views.zoom_box(*analysis.original.shape[:2], x, y, zoom)
    st.caption(f"Below: each file whole, zoomed {zoom}× at ({box.left}, {box.top}) (the Zoom tab moves it), "
               "and its error map.")
    rows = [(shown.key, name, analysis.reconstruction, f"{name}: {budget:,} B, {psnr:.2f} dB")]
    for codec, result in results.items():
        if result.encoded is not None:
            name, e = baselines.CODECS[codec].label, result.encoded
            rows.append((codec, name, e.decoded,
                         f"{name} quality {e.quality}: {e.num_bytes:,} B, {result.scores['psnr']:.2f} dB"))
    top = views.error_top(analysis.original, analysis.reconstruction)  # one scale for all the maps
    columns = st.columns(1 + len(results))  # the model, then every codec of the table
    for column, (what, name, image, caption) in zip(columns, rows):
        key = f"{input_key}/{what}/{budget}"
        show_png(column, shown_png(key, lambda: image), caption, caption)
        show_png(column, views.display_png(views.crop(image, box), 256), f"{name}, zoomed {zoom}×")
        show_png(column, shown_png(f"{key}/error/{top:.6f}", lambda: views.error_map(analysis.original, image, top), 256),
                 f"Error map of {name}", f"{name}: error |x − x̂|")
    for column, (codec, result) in zip(columns[len(rows):], [(c, r) for c, r in results.items() if r.encoded is None]):
        column.warning(f"No {baselines.CODECS[codec].label} file of this image fits in {budget:,} bytes: even "
                       f"quality 1 takes {result.smallest_bytes:,} bytes.")
    columns[0].html(views.error_bar_html(top))
