"""What a deep autoencoder does to an image: `streamlit run app.py`.

Layout and widget wiring only: a model runs on an image through autoencoder.pipeline (the same
protocol as eval and bench); what the page says about it comes from autoencoder.report (cards,
inputs, equal bytes, downloads), how it is drawn from autoencoder.views (pictures, heatmaps,
zoom, latent grids, metric tiles, the swipe comparison, presentation styles) and
autoencoder.figures (plotly); all of them are unit-tested. Models are shared by every session through
a shared store (autoencoder.results) and never modified; results are kept per model and image
hash, in stores bounded by entries and time so memory comes back after use, and the slider's
neighbours are computed ahead while the visitor looks.

The page: the image (sidebar), the model (family, bottleneck slider), the numbers, then one
view at a time in tabs that only compute when opened (swipe, side by side, zoom, latent, the
same bytes as JPEG/WebP, all models, files).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

import autoencoder
from autoencoder import aez, baselines, figures, pipeline, report, uses, views
from autoencoder.models import MODEL_FAMILIES
from autoencoder.codec import CodecError
from autoencoder.data import (ACCEPTED, GALLERY, MAX_DECODE_PIXELS, ImageError, center_square, limit_size,
                              load_gallery_image)
from autoencoder.hardware import return_free_memory_soon
from autoencoder.pretrained import checked_entries, model_info, weights_dir
from autoencoder.results import app_stores

THUMBNAIL_SIDE = 120
THUMBNAIL_MIN = 256  # compare-all pictures: small ones enlarged to this, large ones cut to views.THUMBNAIL_MAX
ZOOM_DEFAULTS = {"zoom_x": 50, "zoom_y": 50, "zoom": 4}  # widget key → value until the Zoom tab moves it
VIEWS = ("Swipe", "Side by side", "Zoom", "Latent", "Same bytes as JPEG/WebP", "All models", "Files",
         "Denoise", "Find defects", "Interpolate")
USES_MAX_SIDE = 512  # the uses tabs work on the image at most this big: each answers in about a second
RESULT_TTL = "1h"  # results of an image nobody looks at any more are dropped after an hour
# The picture under the title, slider and tabs (about 290 px on a 1280×800 screen), hint included.
PRESENTATION_SWIPE_HEIGHT = "calc(100vh - 320px)"

swipe = st.components.v2.component("autoencoder_swipe", css=views.SWIPE_CSS, js=views.SWIPE_JS)


# ---------------------------------------------------------------------------------------
# Caches: keyed by model id + weights sha256 (a retrained file is a different model) and by
# the hash of the exact pixels the model sees; the image itself is passed unhashed (_image).
# Every model stays loaded once used (a few MB each); results are bounded by entries and TTL.

def model_key(card: report.ModelCard) -> str:
    """The folder is part of the key: the same id and sha256 elsewhere is checked (and loaded) anew."""
    return f"{weights_dir()}/{card.id}@{card.sha256}"


def load_model(card: report.ModelCard):
    models, _ = app_stores()
    return models.get(model_key(card), lambda: autoencoder.load_pretrained(card.id))


def analysis_key(card: report.ModelCard, input_key: str) -> str:
    return f"{model_key(card)}/{input_key}"


@dataclass(frozen=True)
class Shown:
    """One model on one image and the PNG of its reconstruction: what a slider move needs,
    computed together (ahead of time, for the slider's neighbours)."""
    analysis: pipeline.Analysis
    reconstruction_png: bytes


def _shown(card: report.ModelCard, image: np.ndarray) -> Shown:
    analysis = pipeline.analyse(load_model(card), card.id, image)
    return Shown(analysis, views.display_png(analysis.reconstruction))


def shown_analysis(card: report.ModelCard, input_key: str, image: np.ndarray) -> Shown:
    """One model on one image, shared by every session; a spinner while it is computed here."""
    _, analyses = app_stores()
    key = analysis_key(card, input_key)
    if analyses.ready(key):
        return analyses.get(key, lambda: _shown(card, image))
    with st.spinner(f"Running {card.id}…"):
        return analyses.get(key, lambda: _shown(card, image))


def prefetch_neighbours(cards: list[report.ModelCard], card: report.ModelCard, input_key: str,
                        image: np.ndarray) -> None:
    """Queue what the next move most likely shows: the models next to `card` on its slider, then
    the first model of each other family that sees the same input (a family switch); they run
    once no script run is busy (autoencoder.results), the neighbours first."""
    _, analyses = app_stores()
    options = report.family_cards(cards, card.family)
    here = options.index(card)
    others = [report.default_card(report.family_cards(cards, f)) for f in sorted({c.family for c in cards})
              if f != card.family]
    guesses = [c for c in others if c.any_size == card.any_size]
    guesses += [c for c in reversed(options[max(0, here - 1) : here + 2]) if c is not card]
    for guess in guesses:  # the last queued runs first
        analyses.prefetch(analysis_key(guess, input_key), lambda g=guess: _shown(g, image))


def pictures_of(card: report.ModelCard, input_key: str, shown: Shown) -> dict[str, Callable[[], bytes]]:
    """The PNGs the page may show of one analysis, each made (and kept) when first drawn."""
    a, key = shown.analysis, analysis_key(card, input_key)
    pictures = {
        "original": lambda: shown_png(f"{input_key}/original", lambda: a.original),
        "reconstruction": lambda: shown.reconstruction_png,
        "error": lambda: shown_png(f"{key}/error", lambda: views.error_map(a.original, a.reconstruction)),
    }
    if a.bits_map is not None:
        pictures["bits"] = lambda: shown_png(f"{key}/bits", lambda: views.bits_image(a.bits_map))
    return pictures


@st.cache_data(max_entries=64, ttl=RESULT_TTL, show_spinner=False)
def shown_png(key: str, _picture: Callable[[], np.ndarray], min_side: int = views.DISPLAY_MIN_SIDE) -> bytes:
    """views.display_png of the picture `_picture()` makes, which `key` names uniquely: made
    and encoded once, not on every rerun."""
    return views.display_png(_picture(), min_side)


@st.cache_data(max_entries=8, show_spinner=False)
def gallery_image(name: str) -> np.ndarray:
    return load_gallery_image(name)


@st.cache_data(max_entries=8, show_spinner=False)
def gallery_thumbnail(name: str) -> bytes:
    return report.png_bytes(center_square(gallery_image(name), THUMBNAIL_SIDE))


@st.cache_data(max_entries=4, ttl=RESULT_TTL, show_spinner="Reading the image…")
def uploaded_image(file_id: str, _data: bytes) -> report.Upload:
    return report.decode_upload(_data)  # ImageError is raised, so not cached, and shown to the user


@st.cache_data(max_entries=24, ttl=RESULT_TTL, show_spinner="Encoding the same bytes as JPEG and WebP…")
def equal_bytes_of(input_key: str, budget: int, codec: str, _image: np.ndarray) -> report.EqualBytes:
    return report.equal_bytes(_image, budget, codec)


@st.cache_data(max_entries=64, ttl=RESULT_TTL, show_spinner=False)
def compared_model(model_id: str, sha256: str, input_key: str, _card: report.ModelCard,
                   _image: np.ndarray) -> report.RatePoint:
    return report.rate_point(pipeline.analyse(load_model(_card), model_id, _image, full_scores=False))


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner=False)
def codec_curve(input_key: str, codec: str, _image: np.ndarray) -> list[report.RatePoint]:
    return report.codec_points(_image, codec)


@st.cache_data(max_entries=16, ttl=RESULT_TTL, show_spinner=False)
def download_bytes(input_key: str, model_id: str, _analysis: pipeline.Analysis) -> tuple[bytes, bytes]:
    return report.png_bytes(_analysis.reconstruction), report.npy_bytes(_analysis.latent)


@st.cache_data(max_entries=4, ttl=RESULT_TTL, show_spinner="Decoding the .aez file…")
def decoded_file(file_id: str, _data: bytes) -> report.DecodedFile:
    return report.decode_aez(_data)  # AezError / CodecError are raised, not cached, and shown


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner="Adding noise and denoising…")
def denoised_of(key: str, sigma: float, _card: report.ModelCard, _image: np.ndarray) -> uses.Denoised:
    return uses.denoise(load_model(_card), _image, sigma)


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner="Scoring the image…")
def anomaly_of(key: str, defect: str | None, _card: report.ModelCard,
               _image: np.ndarray) -> tuple[np.ndarray, uses.Anomaly]:
    image = uses.add_defect(_image, defect) if defect else _image
    return image, uses.anomaly(load_model(_card), image)


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner="Blending the latents…")
def interpolation_of(key: str, steps: int, _card: report.ModelCard, _a: np.ndarray,
                     _b: np.ndarray) -> uses.Interpolation:
    return uses.interpolate(load_model(_card), _a, _b, steps)


# ---------------------------------------------------------------------------------------
# Widgets: each *_ui() returns plain values

@dataclass(frozen=True)
class Source:
    kind: str  # "upload" or "gallery"
    name: str  # file name or gallery name
    upload: object | None  # the UploadedFile, for uploads


def pick_gallery(name: str) -> None:
    st.session_state.gallery = name
    st.session_state.source = "gallery"


def back_to_upload() -> None:
    st.session_state.source = "upload"


def upload_changed() -> None:
    st.session_state.source = "upload" if st.session_state.upload is not None else "gallery"


def input_ui() -> Source:
    """Sidebar: upload or gallery, and a way back to the upload after a gallery pick."""
    st.session_state.setdefault("gallery", report.DEFAULT_IMAGE)
    st.session_state.setdefault("source", "gallery")
    with st.sidebar:
        st.header("Image")
        upload = st.file_uploader(
            "Upload a picture", type=list(report.UPLOAD_TYPES), key="upload", on_change=upload_changed,
            help=f"{ACCEPTED}; up to {st.get_option('server.maxUploadSize')} MB and "
                 f"{MAX_DECODE_PIXELS / 1e6:g} megapixels. EXIF rotation is applied; transparency is shown "
                 "on white; grayscale, palette, CMYK and 16-bit images are converted to RGB.",
        )
        if upload is not None and st.session_state.source == "gallery":
            st.button(f"Back to {upload.name}", key="back_to_upload", on_click=back_to_upload,
                      icon=":material/undo:", width="stretch")
        st.subheader("…or pick a sample photo")
        columns = st.columns(2)
        for i, entry in enumerate(GALLERY):
            with columns[i % 2]:
                st.image(gallery_thumbnail(entry.name), output_format="PNG", alt=f"Sample photo: {entry.name}")
                current = st.session_state.source == "gallery" and st.session_state.gallery == entry.name
                st.button(entry.name, key=f"gallery_{i}", on_click=pick_gallery, args=(entry.name,), wrap=True,
                          type="primary" if current else "secondary", width="stretch", help=entry.credit)
    if st.session_state.source == "upload" and upload is not None:
        return Source("upload", upload.name, upload)
    return Source("gallery", st.session_state.gallery, None)


def model_ui(cards: list[report.ModelCard]) -> tuple[report.ModelCard, bool]:
    """Family switch, bottleneck slider and notebook view. Returns (chosen model, notebook
    toggle); dense models see 64×64 whatever the toggle says."""
    families = [f for f in MODEL_FAMILIES if any(c.family == f for c in cards)]
    if st.session_state.get("family") not in families:  # its models were all left out since
        st.session_state.pop("family", None)
    left, middle, right = st.columns([1.3, 4, 1.3], vertical_alignment="center")
    family = left.radio("Model family", families, format_func=lambda f: MODEL_FAMILIES[f].label, key="family",
                        help="conv models take any size; dense models take exactly 64×64 pixels")
    options = report.family_cards(cards, family)
    by_id = {c.id: c for c in options}
    if st.session_state.get(f"model_{family}") not in by_id:  # a model left out since it was picked
        st.session_state.pop(f"model_{family}", None)
    if len(options) == 1:
        middle.markdown(f"**Bottleneck:** {options[0].id} — {options[0].label}")
        model_id = options[0].id
    else:
        model_id = middle.select_slider(
            "Bottleneck (left: wide, right: narrow)", [c.id for c in options],
            value=report.default_card(options).id, key=f"model_{family}",
            format_func=lambda i: by_id[i].short_label,
        )
        middle.caption(f"**{model_id}**: {by_id[model_id].label}")
    notebook = right.toggle("64×64 like the original notebook", key="notebook", disabled=family == "dense",
                            wrap=True, help="The centre square of the image, resized to 64×64, as in the notebook "
                                 "this project grew from. Dense models always see this.")
    return by_id[model_id], notebook


def zoom_ui() -> tuple[float, float, int]:
    """Where to zoom: (centre x, centre y) as fractions of the image, and the zoom factor."""
    a, b, c = st.columns(3)
    x = a.slider("Horizontal position", 0, 100, ZOOM_DEFAULTS["zoom_x"], format="%d%%", key="zoom_x") / 100
    y = b.slider("Vertical position", 0, 100, ZOOM_DEFAULTS["zoom_y"], format="%d%%", key="zoom_y") / 100
    zoom = c.select_slider("Zoom", [2, 4, 8, 16], value=ZOOM_DEFAULTS["zoom"], format_func=lambda z: f"{z}×",
                           key="zoom")
    return x, y, zoom


def zoom_settings() -> tuple[float, float, int]:
    """The zoom sliders' values wherever they are drawn (the compare views reuse them)."""
    x, y, zoom = (st.session_state.get(key, default) for key, default in ZOOM_DEFAULTS.items())
    return x / 100, y / 100, zoom


# ---------------------------------------------------------------------------------------
# The image and the numbers

def image_of(source: Source, notices) -> tuple[np.ndarray, str, tuple[int, int] | None]:
    """The picture to show, its name and (uploads) the file's own size; a broken upload is
    explained in `notices` and the last gallery pick shown instead, so the session keeps working."""
    if source.kind == "upload":
        try:
            upload = uploaded_image(source.upload.file_id, source.upload.getvalue())
            return upload.image, source.name, upload.size
        except ImageError as e:
            fallback = st.session_state.gallery
            notices.error(f"**{source.name}** cannot be used: {e}. Showing “{fallback}” instead; upload another "
                          "file or pick a sample photo.", icon=":material/error:")
            return gallery_image(fallback), fallback, None
    return gallery_image(source.name), source.name, None


PRESENTED_TILES = ("PSNR", "SSIM", "Bytes", "Bits per pixel")  # presentation mode: the four that tell the story


def show_metrics(analysis: pipeline.Analysis, previous: dict | None, presenting: bool) -> None:
    """Two rows of four tiles; presenting, one column of the four that matter, in large type."""
    tiles = views.metric_tiles(analysis.numbers(), previous)
    if presenting:
        for tile in (t for t in tiles if t.label in PRESENTED_TILES):
            st.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help, border=True)
        return
    for group in ("quality", "size"):
        row = [t for t in tiles if t.group == group]
        for column, tile in zip(st.columns(4), row):
            column.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help,
                          border=True)


# ---------------------------------------------------------------------------------------
# The views (one tab each)

def show_png(where, png: bytes, alt: str, caption: str | None = None) -> None:
    """A PNG from views.display_png at the column's width, with its alt text. Passing
    output_format keeps Streamlit from re-encoding it (its "auto" turns PNG bytes into JPEG)."""
    where.image(png, caption=caption, alt=alt, output_format="PNG", width="stretch")


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


@st.fragment
def show_latent(analysis: pipeline.Analysis, card: report.ModelCard, presenting: bool) -> None:
    """Reruns alone when its toggles move. A dense code is drawn as its per-patch maps."""
    facts, chart = st.columns([1, 3])
    latent = load_model(card).latent_maps(analysis.latent) if card.family == "dense" else analysis.latent
    conv = latent.ndim == 3
    per_channel = conv and facts.toggle(
        "Each channel on its own colour scale", key="per_channel", wrap=True,
        help="Off: one colour scale for all channels, so strong and weak channels compare. "
             "On: each channel ÷ its largest |value|, to see the structure of weak channels.")
    by_energy = conv and facts.toggle(
        "Strongest channels first", key="by_energy", wrap=True,
        help="Order the channel tiles by mean square value, largest first; the number in each tile's "
             "corner is still the channel's own.")
    grid = views.latent_grid(latent, per_channel, by_energy)
    for label, text in report.latent_facts(analysis).items():
        facts.markdown(f"**{label}**  \n{text}")
    if not presenting:
        if grid.family == "conv":
            pooled = f" (the mean of {grid.pool}×{grid.pool} latent values)" if grid.pool > 1 else ""
            scale = "each on its own colour scale" if per_channel else "one colour scale for all"
            what = ("The dense code as its per-patch maps: map k holds value k of every 8×8 patch, where the patch "
                    "is (the MLP mixes all patches, so a value can carry more than its own patch). "
                    if card.family == "dense" else "")
            facts.caption(f"{what}The {grid.channels} channel maps, numbered in their corners, {scale} (blue < 0 < red); "
                          f"each cell stands for a {grid.cell_pixels}×{grid.cell_pixels} pixel block{pooled}. "
                          "Hover for values.")
        else:
            facts.caption("The code reshaped to 2-D; neighbouring cells are not neighbouring pixels.")
    chart.plotly_chart(figures.latent_figure(grid), key="latent_chart")


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
            shown_png(f"{input_key}/{card.id}@{card.sha256[:16]}/{budget}", lambda: analysis.reconstruction),
            f"{baselines.CODECS[against].label} · {results[against].scores['psnr']:.2f} dB",
            f"{card.id} · {psnr:.2f} dB",
            left_alt=f"{baselines.CODECS[against].label} quality {e.quality}, {e.num_bytes:,} bytes",
            right_alt=f"{card.id}, {budget:,} bytes",
            max_height=PRESENTATION_SWIPE_HEIGHT if presenting else "70vh"))
    x, y, zoom = zoom_settings()
    box = views.zoom_box(*analysis.original.shape[:2], x, y, zoom)
    st.caption(f"Below: each file whole, zoomed {zoom}× at ({box.left}, {box.top}) (the Zoom tab moves it), "
               "and its error map.")
    rows = [(f"{card.id}@{card.sha256[:16]}", card.id, analysis.reconstruction,
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


def show_files(analysis: pipeline.Analysis, source_name: str, input_key: str) -> None:
    png, npy = download_bytes(input_key, analysis.model_id, analysis)
    stem = report.file_stem(source_name, analysis.model_id)
    a, b, c = st.columns(3)
    a.download_button("Reconstruction (PNG)", png, f"{stem}.png", "image/png", on_click="ignore",
                      icon=":material/download:")
    b.download_button("Latent (.npy)", npy, f"{stem}_latent.npy", "application/octet-stream", on_click="ignore",
                      icon=":material/download:",
                      help=f"float32 array {analysis.latent.shape}: the latent as the decoder received it "
                           "(after rounding); load with numpy.load")
    if analysis.file is not None:
        c.download_button("Compressed file (.aez)", analysis.file, f"{stem}.aez", "application/octet-stream",
                          on_click="ignore", icon=":material/download:",
                          help="Decode it here (below) or with `python -m autoencoder decompress FILE -o OUT`")
    open_aez_ui()


def open_aez_ui() -> None:
    """Upload an .aez file (made here or by the CLI) and see what it decodes to."""
    upload = st.file_uploader("Open a compressed .aez file", type=["aez"], key="aez_upload")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        decoded = decoded_file(upload.file_id, data)
    except (aez.AezError, CodecError, autoencoder.WeightsError) as e:
        st.error(f"**{upload.name}** cannot be decoded: {e}", icon=":material/error:")
        return
    h, w = decoded.image.shape[:2]
    left, right = st.columns([2, 1])
    show_png(left, views.display_png(decoded.image), f"The image decoded from {upload.name}",
             f"{upload.name}, decoded with {decoded.model_id}")
    right.markdown(f"**{upload.name}**  \n{decoded.model_id} · {w}×{h}  \n{decoded.num_bytes:,} bytes · "
                   f"{decoded.bits_per_pixel:.3f} bpp")
    right.download_button("Decoded image (PNG)", report.png_bytes(decoded.image),
                          f"{report.file_stem(upload.name, decoded.model_id)}.png", "image/png", on_click="ignore",
                          icon=":material/download:")


def show_comparison(cards: list[report.ModelCard], image: np.ndarray, current: str) -> None:
    """Every model and both codec ladders on this image: computed when this tab is first opened,
    then cached per image (zoom and slider moves do not recompute it)."""
    compared = report.comparison_image(image)
    key = report.image_key(compared.image)
    if compared.note:
        st.caption(compared.note)
    points = []
    progress = st.empty()
    for i, card in enumerate(cards):
        progress.progress(i / len(cards), text=f"Running {card.id} ({i + 1} of {len(cards)})…")
        points.append(compared_model(card.id, card.sha256, key, card, compared.image))
    progress.progress(1.0, text="Running JPEG and WebP at 12 qualities each…")
    codecs = {codec: codec_curve(key, codec, compared.image) for codec in baselines.CODECS}
    progress.empty()
    kodak = report.load_kodak_eval()
    st.plotly_chart(figures.rd_figure(points, {c.id: c.family for c in cards}, codecs, kodak, current),
                    key="rd_chart")
    st.caption("Solid: this image (real bytes: the 8-bit latents, the codec models' .aez files, Pillow's JPEG and "
               "WebP files). " + ("Dashed and open: the mean over the Kodak set from weights/kodak-eval.json."
                                  if kodak else "The Kodak reference curves appear once weights/kodak-eval.json "
                                                "exists (`python -m autoencoder eval`)."))
    box = views.zoom_box(*compared.image.shape[:2], *zoom_settings())
    header = st.columns([1.3, 1, 1, 1])
    for column, text in zip(header, ("Model", "Reconstruction", "Error |x − x̂|", "Zoom region")):
        column.markdown(f"**{text}**")
    for card, point in zip(cards, points):
        label, picture, error, detail = st.columns([1.3, 1, 1, 1], vertical_alignment="center")
        label.markdown(f"**{card.id}**{' (on the slider)' if card.id == current else ''}  \n{card.label}")
        label.metric("PSNR", f"{point.psnr:.2f} dB")
        label.caption(f"{point.num_bytes:,} B · {point.bpp:.3f} bpp")
        name = f"{key}/{card.id}@{card.sha256[:16]}/compared"
        show_png(picture, shown_png(name, lambda: views.thumbnail(point.reconstruction), THUMBNAIL_MIN),
                 f"Reconstruction by {card.id}")
        show_png(error, shown_png(f"{name}/error", lambda: views.thumbnail(
            views.error_map(compared.image, point.reconstruction)), THUMBNAIL_MIN), f"Error map of {card.id}")
        show_png(detail, views.display_png(views.crop(point.reconstruction, box), THUMBNAIL_MIN),
                 f"Zoomed region of {card.id}'s reconstruction")


# ---------------------------------------------------------------------------------------
# The other uses of an autoencoder: one tab each

def show_denoising(image: np.ndarray) -> None:
    denoisers = report.model_cards(use="denoising")
    if not denoisers:
        st.info(f"No denoising model in {weights_dir()} (the shipped one is {uses.DENOISER}).", icon=":material/info:")
        return
    card = denoisers[0]
    trained_up_to = model_info(card.id)["noise_sigma"] * 255
    sigma = st.slider("Noise σ (of 255)", 5, 50, 25, step=5, key="noise_sigma",
                      help="Gaussian noise added to every pixel value, then stored as 8 bits like a photo. "
                           f"{card.id} was trained on σ up to {trained_up_to:.0f}.")
    image = limit_size(image, USES_MAX_SIDE)[0]
    key = f"{model_key(card)}/{report.image_key(image)}/{sigma}"
    result = denoised_of(key, sigma / 255, card, image)
    best = max(("denoised", "classical"), key=result.psnr.get)
    winner = card.id if best == "denoised" else "The wavelet denoiser"
    st.markdown(f"#### {winner} comes closer to the clean image: {result.psnr[best]:.2f} dB, "
                f"from {result.psnr['noisy']:.2f} dB noisy")
    labels = {"noisy": "Noisy input", "denoised": f"Denoised by {card.id}", "classical": "Wavelet denoiser"}
    for column, (name, label) in zip(st.columns(3), labels.items()):
        show_png(column, shown_png(f"{key}/{name}", lambda n=name: getattr(result, n), THUMBNAIL_MIN),
                 f"{label}, noise σ = {sigma} of 255", f"{label} · {result.psnr[name]:.2f} dB")
    st.caption(f"PSNR against the clean image ({image.shape[1]}×{image.shape[0]} px). {card.id} is conv-c32 fine-tuned "
               "with noisy inputs and clean targets; the wavelet denoiser (scikit-image, BayesShrink) estimates σ from "
               "the image itself. `python -m autoencoder uses denoise IMAGE --sigma 25` does the same from a terminal.")


def show_anomalies(image: np.ndarray, cards: list[report.ModelCard], current: report.ModelCard) -> None:
    """Scored by uses.ANOMALY_MODEL (the model the benchmark measured), else by a conv model."""
    conv = [c for c in cards if c.family == "conv"]
    card = next((c for c in conv if c.id == uses.ANOMALY_MODEL), current if current in conv else None)
    card = card or (conv[0] if conv else None)
    if card is None:
        st.info(f"The anomaly score needs a conv model; none is in {weights_dir()}.", icon=":material/info:")
        return
    defect = st.segmented_control("Add a defect", uses.DEFECTS, default=None, key="defect",
                                  help="A synthetic defect at a random place: something a model trained on "
                                       "photos never learned to draw")
    # Scored at the size the benchmark set its threshold at: the worst window of a larger image
    # is worse by chance alone (more windows), and would flag clean photos.
    image = limit_size(image, uses.BENCHMARK_CROP)[0]
    key = f"{model_key(card)}/{report.image_key(image)}/{defect}"
    shown, result = anomaly_of(key, defect, card, image)
    benchmark = report.load_anomaly_benchmark()
    if benchmark and benchmark.get("model") != card.id:
        benchmark = None  # its threshold and AUC are another model's
    if benchmark:
        flagged = result.score >= benchmark["threshold"]
        st.markdown(f"#### Anomaly score {result.score:.4f}: {'above' if flagged else 'below'} the threshold "
                    f"{benchmark['threshold']:.4f}, so this image {'looks anomalous' if flagged else 'looks normal'}")
        by_kind = ", ".join(f"{k} {v:.2f}" for k, v in benchmark["auc_by_defect"].items())
        st.caption(f"On a generated set ({benchmark['count']} gallery crops of {benchmark['crop']}×{benchmark['crop']} "
                   f"with a defect, {benchmark['count']} without) the score separates the two with ROC AUC "
                   f"{benchmark['auc']:.3f} ({by_kind}); the threshold is the one that does best there. This image is "
                   f"scored at {image.shape[1]}×{image.shape[0]}, at most the size the threshold was set at.")
    else:
        st.markdown(f"#### Anomaly score {result.score:.4f}")
    left, right = st.columns(2)
    show_png(left, shown_png(f"{key}/input", lambda: shown, THUMBNAIL_MIN), "The image scored",
             "Input" + (f" with a {defect}" if defect else ""))
    top = 2 * benchmark["threshold"] if benchmark else None  # one scale for every image: normal stays dim
    show_png(right, shown_png(f"{key}/map", lambda: views.anomaly_image(result.window_error, top), THUMBNAIL_MIN),
             "Anomaly map: bright where the model cannot rebuild the image",
             f"{card.id}'s error, averaged over {uses.SCORE_WINDOW}×{uses.SCORE_WINDOW} windows")
    st.caption(f"The score is the mean squared error of the worst {uses.SCORE_WINDOW}×{uses.SCORE_WINDOW} window of "
               f"{card.id}'s reconstruction: a photo it rebuilds well everywhere scores low; text, noise or scratches "
               "score high, and so do busy textures (leaves, stars): the map shows where.")


def show_interpolation(image: np.ndarray, card: report.ModelCard, source_name: str) -> None:
    names = [g.name for g in GALLERY]
    other = st.selectbox("Blend towards", names, index=next(i for i, n in enumerate(names) if n != source_name),
                         key="blend_towards")
    steps = st.slider("Frames", 3, 9, 5, key="blend_steps")
    side = 256 if card.any_size else report.NOTEBOOK_SIDE
    a, b = uses.same_size(image, gallery_image(other), side)
    result = interpolation_of(f"{model_key(card)}/{report.image_key(a)}/{report.image_key(b)}", steps, card, a, b)
    middle = len(result.t) // 2
    for title, path, frames in (
            (f"Decoded by {card.id} from the blended latent (1 − t)·z_a + t·z_b", "latent blend", result.latent_path),
            ("The pixels cross-faded, (1 − t)·a + t·b", "cross-fade", result.cross_fade)):
        st.markdown(f"**{title}**")
        for column, t, frame in zip(st.columns(len(frames)), result.t, frames):
            show_png(column, views.display_png(frame, 128), f"{path} at t = {t:g} from the image to {other}",
                     f"t = {t:g}")
    st.caption(f"At t = {result.t[middle]:g}, the decoded blend is {result.psnr_to_linear[middle]:.1f} dB (PSNR) from the "
               f"same blend of {card.id}'s two reconstructions: the higher, the more linear the decoder. These decoders "
               "are mostly linear (a PCA-initialised linear path plus corrections), so a blended code decodes to "
               "nearly a cross-fade; it does not morph one scene into the other. That takes a generative model "
               "trained for it.")


# ---------------------------------------------------------------------------------------
# The page

def main() -> None:
    st.set_page_config(page_title="What an autoencoder does to an image", page_icon="🧩", layout="wide")
    title, switch = st.columns([5, 1], vertical_alignment="center")
    presenting = switch.toggle("Present", key="present", bind="query-params",
                               help="For talks on a projector (1280×800 and up): large pictures and numbers, "
                                    "sidebar collapsed, less text. The address ?present=true opens the page this way.")
    # A second call (Streamlit allows several per run) lets the toggle collapse the sidebar.
    st.set_page_config(initial_sidebar_state="collapsed" if presenting else "expanded")
    if presenting:
        st.html(views.PRESENTATION_CSS)
    title.title("What a deep autoencoder does to an image")

    source = input_ui()
    try:
        cards, refused = report.model_cards(), checked_entries()[1]
    except autoencoder.WeightsError as e:
        st.error(f"The model list cannot be read: {e}. Restore weights/manifest.json from the repository.",
                 icon=":material/error:")
        st.stop()
    broken = st.session_state.setdefault("broken_models", {})  # id → why it failed to load, this session
    cards = [c for c in cards if c.id not in broken]
    left_out = refused + list(broken.values())
    if not cards:
        st.error(f"No usable models in {weights_dir()}" + (f" ({'; '.join(left_out)})" if left_out else "") +
                 ". Restore the shipped weights/ folder, or train one (`python -m autoencoder train`, see the README).",
                 icon=":material/error:")
        st.stop()

    if not presenting:
        st.markdown(
            "An autoencoder squeezes the image through a **bottleneck** (the latent) and rebuilds it "
            "from that alone. Move the slider to narrow the bottleneck and watch what is lost. Sizes "
            "count the latent rounded to 8 bits, and the reconstruction is decoded from exactly that; "
            "**codec** models go further and write a real compressed file (rounded latent, entropy-coded), "
            "and everything shown is decoded from that file. "
            f"Conv models see the whole image (longest side capped at {report.MAX_SIDE} px); "
            f"dense models see a {report.NOTEBOOK_SIDE}×{report.NOTEBOOK_SIDE} centre square."
        )
    card, notebook = model_ui(cards)
    notices = st.container()  # one fixed place for every note and refusal, above the pictures
    if left_out:
        notices.warning("Left out of the model list: " + "; ".join(left_out), icon=":material/warning:")

    image, source_name, file_size = image_of(source, notices)
    model_input = report.model_input(image, card.any_size, notebook, file_size)
    if model_input.note:
        notices.info(model_input.note, icon=":material/info:")
    input_key = report.image_key(model_input.image)
    try:
        shown = shown_analysis(card, input_key, model_input.image)
    except autoencoder.WeightsError as e:
        broken[card.id] = f"{card.id} cannot be loaded ({e})"  # off the slider for this session, said above
        st.rerun()
    analysis, pictures = shown.analysis, pictures_of(card, input_key, shown)
    too_small = report.size_notice(analysis)
    if too_small:
        notices.warning(too_small, icon=":material/warning:")
    previous = views.previous_numbers(st.session_state.setdefault("history", {}), input_key, card.id,
                                        analysis.numbers())

    if presenting:
        area, numbers = st.columns([4.2, 1])
        with numbers:
            show_metrics(analysis, previous, presenting)
    else:
        show_metrics(analysis, previous, presenting)
        if previous is None:
            st.caption("Deltas appear when you move the slider: they compare with the model shown before.")
        area = st.container()
    with area:
        # Only the open tab runs: a view costs nothing until someone looks at it.
        tabs = st.tabs(VIEWS, key="view", on_change="rerun")
        draw = {
            "Swipe": lambda: show_swipe(analysis, card, pictures, presenting),
            "Side by side": lambda: show_side_by_side(analysis, card, pictures),
            "Zoom": lambda: show_zoom(analysis),
            "Latent": lambda: show_latent(analysis, card, presenting),
            "Same bytes as JPEG/WebP": lambda: show_equal_bytes(analysis, card, input_key, presenting),
            "All models": lambda: show_comparison(cards, report.model_input(image, True, notebook).image, card.id),
            "Files": lambda: show_files(analysis, source_name, input_key),
            "Denoise": lambda: show_denoising(model_input.image),
            "Find defects": lambda: show_anomalies(model_input.image, cards, card),
            "Interpolate": lambda: show_interpolation(model_input.image, card, source_name),
        }
        for tab, view in zip(tabs, VIEWS):
            if tab.open:
                with tab:
                    draw[view]()
    prefetch_neighbours(cards, card, input_key, model_input.image)


if __name__ != "__mp_main__":  # a multiprocessing child that re-imports this script (spawn) draws no page
    try:
        with app_stores()[1].foreground():  # guesses for the next move wait until this run is drawn
            main()
    finally:
        return_free_memory_soon()  # a second after the last run: what the runs freed goes back to the system
